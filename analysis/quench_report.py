"""quench report: figures and an index.html from a results file (docs/cli.md).

    python3 analysis/quench_report.py study.h5 -o report/

Figures (PNG, matplotlib's Agg backend), each drawn when the study has what it needs:
  accuracy_vs_width.png     PTQ and QAT accuracy against quant.width, one curve per quant.frac_width
  accuracy_vs_sparsity.png  accuracy against prune.sparsity, one curve per weight/activation method pair
  train_loss.png            the training-loss curve of every trial, by stage
  best_so_far.png           search stages (kind search): best metric so far against trial number, one
                            curve per stage (label: stage and method), each trial a faint point
  layer_formats.png         stages with per-layer quant params (params/layers.<L>.quant.*): bits per
                            weight and format of each layer in the stage's best trial, and the
                            weight memory against fp32 (quench_results.memory_footprint)
  inference_throughput.png  inference stages (kind inference): tokens/s per llm.precision, one bar
                            per device kind (device.kind, else the worker's device), one panel per model
  inference_memory.png      the same for the peak memory (metrics mem_peak_bytes)
and index.html with the figures, the best trial of each stage, the inference trials with their
perplexity (inference stages), and the devices that ran the study.
"""
import argparse
import html
import os
import sys

os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import h5py  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from quench_results import load_job, load_stages, load_trials, memory_footprint  # noqa: E402


def _save(fig, out, name):
    """Write the figure as out/name and close it; returns name (the index links it)."""
    fig.tight_layout()
    fig.savefig(os.path.join(out, name), dpi=110)
    plt.close(fig)
    return name


def _finish_axes(ax, xlabel, ylabel, title):
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def accuracy_vs_width(df, out):
    if "params/quant.width" not in df:
        return None
    q = df[df["params/quant.width"].notna() & (df["status"] == "done")]
    if q.empty:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    fracs = q["params/quant.frac_width"].astype(str) if "params/quant.frac_width" in q else pd.Series("", index=q.index)
    drawn = 0
    colors = {frac: f"C{i}" for i, frac in enumerate(sorted(fracs.unique()))}  # one colour per frac, PTQ dashed
    for metric, style, label in (("metrics/ptq_accuracy", "--o", "PTQ"), ("metrics/qat_accuracy", "-s", "QAT")):
        if metric not in q:
            continue
        for frac in sorted(fracs.unique()):
            rows = q[(fracs == frac) & q[metric].notna()].sort_values("params/quant.width")
            if rows.empty:
                continue
            ax.plot(rows["params/quant.width"], rows[metric], style, color=colors[frac], label=f"{label}, frac {frac}")
            drawn += 1
    base = df[(df["stage"] == df["stage"].iloc[0]) & df.get("metrics/accuracy", pd.Series(dtype=float)).notna()]
    if "metrics/accuracy" in df and not base.empty:
        ax.axhline(float(base["metrics/accuracy"].iloc[0]), color="gray", lw=1, label="fp32 baseline")
    if not drawn:
        plt.close(fig)
        return None
    _finish_axes(ax, "quant.width (bits)", "accuracy", "Accuracy against bit width")
    return _save(fig, out, "accuracy_vs_width.png")


def accuracy_vs_sparsity(df, out):
    sp = next((c for c in ("params/prune.sparsity", "params/prune.weight.sparsity") if c in df), None)
    if sp is None or "metrics/accuracy" not in df:
        return None
    p = df[df[sp].notna() & (df["status"] == "done") & df["metrics/accuracy"].notna()]
    if p.empty:
        return None
    def col(name):
        return p[name].astype(str) if name in p else pd.Series("-", index=p.index)
    # prune.method sets both targets; a target-specific key overrides it
    both = "params/prune.method" in p
    wm = col("params/prune.weight.method") if "params/prune.weight.method" in p else col("params/prune.method")
    am = col("params/prune.activation.method") if "params/prune.activation.method" in p else col("params/prune.method")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (w, a), rows in p.groupby([wm, am]):
        rows = rows.sort_values(sp)
        label = f"{w} (weights and activations)" if both and w == a else f"weights {w}, activations {a}"
        ax.plot(rows[sp], rows["metrics/accuracy"], "-o", label=label)
    _finish_axes(ax, "sparsity", "accuracy after fine-tuning", "Accuracy against sparsity")
    return _save(fig, out, "accuracy_vs_sparsity.png")


def train_loss(path, df, out):
    stages = list(dict.fromkeys(df["stage"]))
    fig, axes = plt.subplots(1, len(stages), figsize=(4 * len(stages), 3.5), squeeze=False)
    drawn = 0
    with h5py.File(path, "r") as f:
        for ax, stage in zip(axes[0], stages):
            for tid in df.loc[df["stage"] == stage, "id"]:
                key = f"trial/{int(tid)}/train_loss"
                if key in f:
                    ax.plot(f[key][:], lw=0.8, alpha=0.7)
                    drawn += 1
            ax.set_title(stage)
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("training loss")
    if not drawn:
        plt.close(fig)
        return None
    return _save(fig, out, "train_loss.png")


def best_so_far(df, stages, out):
    """One curve per search stage: /stages/<name>/best_so_far against trial number (the stage's
    trials in id order), the metric of every finished trial as a faint point."""
    search = [n for n, a in stages.items() if a.get("kind") == "search" and n in set(df["stage"])]
    if not search:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    metrics = set()
    for i, name in enumerate(search):
        a = stages[name]
        rows = df[df["stage"] == name].sort_values("id")
        metric = "metrics/" + str(a.get("metric", ""))
        vals = rows[metric].where(rows["status"] == "done") if metric in rows else pd.Series(np.nan, index=rows.index)
        x = np.arange(1, len(rows) + 1)
        bsf = a.get("best_so_far")
        if bsf is None or len(bsf) != len(rows):  # a file written before best_so_far: recompute
            goal_max = a.get("goal", "maximize") != "minimize"
            bsf = (vals.cummax() if goal_max else vals.cummin()).ffill().to_numpy()
        color = f"C{i}"
        ax.scatter(x, vals.to_numpy(), s=18, color=color, alpha=0.35, linewidths=0)
        ax.step(x, bsf, where="post", color=color, lw=1.8, label=f"{name} ({a.get('method', 'grid')})")
        metrics.add(str(a.get("metric", "")))
    _finish_axes(ax, "number of trials", ("best " + ", ".join(sorted(metrics))) + " so far", "Best so far against trials")
    return _save(fig, out, "best_so_far.png")


def _format_label(fmt):
    name = str(fmt.get("name", "none"))
    if name in ("none", "fp32", "float32"):
        return "fp32"
    w = fmt.get("width")
    short = {"integer": "int", "minifloat_ieee": "mf", "minifloat_denorm": "mfd"}.get(name, name)
    return f"{short}{int(float(w))}" if w is not None and name not in ("nf4", "fp4", "fp16", "bf16", "binary", "ternary") else short


def per_layer_footprints(df, stages, job):
    """[(stage, best trial row, memory_footprint)] for each stage whose trials have per-layer quant
    params; the best trial is /stages/<name>'s best_trial (else the first finished trial)."""
    cols = [c for c in df.columns if c.startswith("params/layers.") and ".quant." in c]
    out = []
    if not cols:
        return out
    for name, rows in df.groupby("stage", sort=False):
        has = rows[cols].apply(lambda c: c.notna() & (c.astype(str) != "")).any().any()
        if not has:
            continue
        best = stages.get(name, {}).get("best_trial", -1)
        pick = rows[rows["id"] == best] if best is not None and best >= 0 else rows[rows["status"] == "done"].head(1)
        if pick.empty:
            continue
        row = pick.iloc[0]
        out.append((name, row, memory_footprint(row, job)))
    return out


def layer_formats(df, stages, job, out):
    """Per stage with per-layer params: the best trial's bits per weight and format per Linear
    layer (left) and its weight memory against fp32 (right)."""
    fps = per_layer_footprints(df, stages, job)
    if not fps:
        return None
    layers = [l[0] for l in fps[0][2]["layers"]]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.5), gridspec_kw={"width_ratios": [3, 1.3]})
    width = 0.8 / len(fps)
    x = np.arange(len(layers))
    for i, (name, row, fp) in enumerate(fps):
        bits = [l[2] for l in fp["layers"]]
        bars = ax.bar(x + (i - (len(fps) - 1) / 2) * width, bits, width, color=f"C{i}",
                      label=f"{name}: trial {int(row['id'])}")
        for b, l in zip(bars, fp["layers"]):
            ax.annotate(_format_label(l[1]), (b.get_x() + b.get_width() / 2, b.get_height()), ha="center",
                        va="bottom", fontsize=7)
    ax.axhline(32, color="gray", lw=1, ls="--", label="fp32")
    ax.set_xticks(x)
    ax.set_xticklabels([l.replace("bert.encoder.layer.", "L").replace("attention.", "att.") for l in layers],
                       rotation=60 if len(layers) > 4 else 0, ha="right" if len(layers) > 4 else "center", fontsize=7)
    ax.set_ylabel("bits per weight")
    ax.set_title("Weight format per layer (best trial)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, axis="y")
    names = ["fp32"] + [n for n, _, _ in fps]
    kib = [fps[0][2]["fp32_bytes"] / 1024] + [fp["bytes"] / 1024 for _, _, fp in fps]
    bb = bx.bar(range(len(names)), kib, color=["gray"] + [f"C{i}" for i in range(len(fps))])
    for b, (n, v) in zip(bb, zip(names, kib)):
        bx.annotate(f"{v / kib[0]:.2f}x", (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom", fontsize=8)
    bx.set_xticks(range(len(names)))
    bx.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    bx.set_ylabel("Linear weights (KiB)")
    bx.set_title("Memory against fp32")
    bx.grid(alpha=0.3, axis="y")
    return _save(fig, out, "layer_formats.png")


def _inference_rows(df, stages):
    """The trials of inference stages with model, precision and device kind as plain columns."""
    names = [n for n, a in stages.items() if a.get("kind") == "inference"]
    rows = df[df["stage"].isin(names)].copy()
    if rows.empty:
        return rows
    # llm.model in the grid, else the one of the job's llm: section (one model)
    model = rows["params/llm.model"] if "params/llm.model" in rows else pd.Series("model", index=rows.index)
    rows["model"] = model.map(lambda p: os.path.basename(str(p).rstrip("/")))
    rows["precision"] = rows["params/llm.precision"] if "params/llm.precision" in rows else "fp32"
    kind = rows["params/device.kind"] if "params/device.kind" in rows else pd.Series("", index=rows.index)
    rows["device kind"] = [k if isinstance(k, str) and k else str(d) for k, d in zip(kind, rows["device"])]
    return rows


def _grouped_bars(rows, metric, scale, ylabel, title, out, name):
    """Bars of metric per precision (x), one per device kind, one panel per model (done trials)."""
    col = "metrics/" + metric
    if rows.empty or col not in rows:
        return None
    done = rows[(rows["status"] == "done") & rows[col].notna()]
    if done.empty:
        return None
    models = list(dict.fromkeys(done["model"]))
    kinds = list(dict.fromkeys(done["device kind"]))
    fig, axes = plt.subplots(1, len(models), figsize=(max(5, 4.5 * len(models)), 4.2), squeeze=False)
    for ax, model in zip(axes[0], models):
        m = done[done["model"] == model]
        precs = list(dict.fromkeys(m["precision"]))
        x = np.arange(len(precs))
        w = 0.8 / max(1, len(kinds))
        for i, k in enumerate(kinds):
            # the mean over the other grid axes (batch, prompt, ...) of each (precision, kind)
            vals = [m[(m["precision"] == p) & (m["device kind"] == k)][col].mean() * scale for p in precs]
            ax.bar(x + (i - (len(kinds) - 1) / 2) * w, vals, w, label=k, color=f"C{i}")
        ax.set_xticks(x, precs)
        _finish_axes(ax, "precision", ylabel, f"{title}: {model}")
    return _save(fig, out, name)


def inference_table(rows):
    """One row per inference trial: what seed 004 tabulates, and the perplexity where measured."""
    cols = [("tokens_per_s", "tokens/s", 1), ("decode_ms_per_token", "decode ms/token", 1), ("ttft_ms", "TTFT ms", 1),
            ("load_s", "load s", 1), ("weights_bytes", "weights MiB", 1 / 2**20),
            ("mem_peak_bytes", "peak MiB", 1 / 2**20), ("perplexity", "perplexity", 1)]
    out = []
    for _, r in rows.sort_values(["model", "precision", "device kind", "id"]).iterrows():
        e = {"trial": int(r["id"]), "model": r["model"], "precision": r["precision"], "device kind": r["device kind"],
             "status": r["status"]}
        for m, label, scale in cols:
            v = r.get("metrics/" + m)
            e[label] = "" if v is None or pd.isna(v) else round(float(v) * scale, 4)
        e["error"] = r["error"] if r["status"] != "done" else ""
        out.append(e)
    return pd.DataFrame(out)


def table(frame):
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>" for r in frame.itertuples(index=False))
    return f"<table><tr>{head}</tr>{rows}</table>"


def main():
    ap = argparse.ArgumentParser(description="figures and index.html from a quench results file")
    ap.add_argument("file")
    ap.add_argument("-o", "--out", default=None)
    a = ap.parse_args()
    out = a.out or os.path.splitext(a.file)[0] + "-report"
    os.makedirs(out, exist_ok=True)
    df = load_trials(a.file)
    stages, job = load_stages(a.file), load_job(a.file)
    inference = _inference_rows(df, stages)
    figures = [f for f in (accuracy_vs_width(df, out), accuracy_vs_sparsity(df, out), train_loss(a.file, df, out),
                           best_so_far(df, stages, out), layer_formats(df, stages, job, out),
                           _grouped_bars(inference, "tokens_per_s", 1, "tokens/s", "Throughput", out,
                                         "inference_throughput.png"),
                           _grouped_bars(inference, "mem_peak_bytes", 1 / 2**20, "peak memory (MiB)", "Peak memory",
                                         out, "inference_memory.png")) if f]
    footprints = [{"stage": n, "trial": int(r["id"]), "weight KiB": round(fp["bytes"] / 1024, 2),
                   "fp32 KiB": round(fp["fp32_bytes"] / 1024, 2), "against fp32": round(fp["ratio"], 3),
                   "formats": ", ".join(f"{l[0]}={_format_label(l[1])}" for l in fp["layers"])}
                  for n, r, fp in per_layer_footprints(df, stages, job)]
    with h5py.File(a.file, "r") as f:
        name = f.attrs.get("job_name", "study")
        name = name.decode() if isinstance(name, bytes) else str(name)
        dev = f["devices"]
        n = int(dev.attrs["rows"])
        devices = pd.DataFrame({k: (dev[k].asstr()[:n] if dev[k].dtype.kind in "OS" else dev[k][:n])
                                for k in ("rank", "session", "hostname", "kind", "name", "gemm_gflops") if k in dev})
    best = []
    for stage, rows in df.groupby("stage", sort=False):
        metrics = [c for c in rows.columns if c.startswith("metrics/") and rows[c].notna().any()]
        key = next((m for m in ("metrics/qat_accuracy", "metrics/accuracy", "metrics/ptq_accuracy",
                                "metrics/tokens_per_s") if m in metrics), None)
        done = rows[rows["status"] == "done"]
        if key and not done[key].dropna().empty:
            r = done.loc[done[key].idxmax()]
            params = ", ".join(f"{c[7:]}={r[c]}" for c in rows.columns if c.startswith("params/") and pd.notna(r[c]) and r[c] != "")
            best.append({"stage": stage, "trials": len(rows), "failed": int((rows["status"] == "failed").sum()),
                         "best trial": int(r["id"]), key[8:]: round(float(r[key]), 4), "parameters": params})
    page = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(name)}</title>",
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
            "padding:3px 8px;font-size:13px}img{max-width:900px;display:block;margin:1em 0}</style>",
            f"<h1>{html.escape(name)}</h1><p>{len(df)} trials from {html.escape(os.path.basename(a.file))}</p>",
            "<h2>Best trial of each stage</h2>", table(pd.DataFrame(best)) if best else "<p>no finished trials</p>"]
    if footprints:
        page += ["<h2>Weight memory of the best per-layer trials</h2>", table(pd.DataFrame(footprints))]
    if not inference.empty:
        page += ["<h2>Inference trials and perplexity</h2>", table(inference_table(inference))]
    for fig in figures:
        page.append(f"<h2>{html.escape(fig[:-4].replace('_', ' '))}</h2><img src='{fig}'>")
    page += ["<h2>Devices</h2>", table(devices)]
    open(os.path.join(out, "index.html"), "w").write("\n".join(page))
    print(os.path.join(out, "index.html"))
    for fig in figures:
        print(os.path.join(out, fig))


if __name__ == "__main__":
    main()
