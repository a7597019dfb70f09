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
and index.html with the figures, the best trial of each stage and the devices that ran the study.
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
    figures = [f for f in (accuracy_vs_width(df, out), accuracy_vs_sparsity(df, out), train_loss(a.file, df, out),
                           best_so_far(df, stages, out), layer_formats(df, stages, job, out)) if f]
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
        key = next((m for m in ("metrics/qat_accuracy", "metrics/accuracy", "metrics/ptq_accuracy") if m in metrics), None)
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
    for fig in figures:
        page.append(f"<h2>{html.escape(fig[:-4].replace('_', ' '))}</h2><img src='{fig}'>")
    page += ["<h2>Devices</h2>", table(devices)]
    open(os.path.join(out, "index.html"), "w").write("\n".join(page))
    print(os.path.join(out, "index.html"))
    for fig in figures:
        print(os.path.join(out, fig))


if __name__ == "__main__":
    main()
