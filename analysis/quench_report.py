"""quench report: figures and an index.html from a results file (docs/cli.md).

    python3 analysis/quench_report.py study.h5 -o report/

Figures (PNG, matplotlib's Agg backend), each drawn when the study has what it needs:
  accuracy_vs_width.png     PTQ and QAT accuracy against quant.width, one curve per quant.frac_width
  accuracy_vs_sparsity.png  accuracy against prune.sparsity, one curve per weight/activation method pair
  train_loss.png            the training-loss curve of every trial, by stage
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

from quench_results import load_trials  # noqa: E402


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
    ax.set_xlabel("quant.width (bits)")
    ax.set_ylabel("accuracy")
    ax.set_title("Accuracy against bit width")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "accuracy_vs_width.png"), dpi=110)
    plt.close(fig)
    return "accuracy_vs_width.png"


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
    ax.set_xlabel("sparsity")
    ax.set_ylabel("accuracy after fine-tuning")
    ax.set_title("Accuracy against sparsity")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "accuracy_vs_sparsity.png"), dpi=110)
    plt.close(fig)
    return "accuracy_vs_sparsity.png"


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
    fig.tight_layout()
    fig.savefig(os.path.join(out, "train_loss.png"), dpi=110)
    plt.close(fig)
    return "train_loss.png"


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
    figures = [f for f in (accuracy_vs_width(df, out), accuracy_vs_sparsity(df, out), train_loss(a.file, df, out)) if f]
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
    for fig in figures:
        page.append(f"<h2>{html.escape(fig[:-4].replace('_', ' '))}</h2><img src='{fig}'>")
    page += ["<h2>Devices</h2>", table(devices)]
    open(os.path.join(out, "index.html"), "w").write("\n".join(page))
    print(os.path.join(out, "index.html"))
    for fig in figures:
        print(os.path.join(out, fig))


if __name__ == "__main__":
    main()
