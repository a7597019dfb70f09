"""Load a quench results file (docs/results-format.md) into pandas.

    import sys; sys.path.insert(0, "analysis")
    from quench_results import load_trials, load_curve
    df = load_trials("study.h5")            # one row per recorded trial
    loss = load_curve("study.h5", 3)        # /trial/3/train_loss as a numpy array
    sd = load_checkpoint("study.h5", 3)     # {"bert.encoder.layer.0...weight": array, ...}, unpacked
    st = load_stages("study.h5")            # {"tune": {"method": "tpe", "best_so_far": array, ...}}
    memory_footprint(df.iloc[0], load_job("study.h5"))  # weight bytes of a trial against fp32

Works on a file a run is still writing: only the rows the writer has made durable (the `rows`
attribute of /trials) are read, and HDF5's file locking is turned off for reading, as quench does.
"""
import os

os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")

import h5py  # noqa: E402
import pandas as pd  # noqa: E402


def load_trials(path):
    """The /trials table: id, stage, status, params/<name>, metrics/<name>, ... as a DataFrame."""
    with h5py.File(path, "r") as f:
        trials = f["trials"]
        rows = int(trials.attrs["rows"])
        cols = {}

        def take(name, obj):
            if isinstance(obj, h5py.Dataset):
                data = obj.asstr()[:rows] if obj.dtype.kind in "OS" else obj[:rows]
                cols[name] = data

        trials.visititems(take)
    order = ["id", "stage", "status"]
    names = order + sorted(k for k in cols if k not in order)
    return pd.DataFrame({k: cols[k] for k in names if k in cols})


def load_curve(path, trial_id, name="train_loss"):
    """A per-trial curve, e.g. the training loss per step of trial `trial_id`."""
    with h5py.File(path, "r") as f:
        return f["trial/%d/%s" % (trial_id, name)][:]


def _unpack_codes(raw, n, width, signed):
    """n codes of `width` bits, least significant bit first (docs/results-format.md)."""
    import numpy as np
    bits = np.unpackbits(np.asarray(raw, dtype=np.uint8), bitorder="little")[: n * width].reshape(n, width)
    codes = (bits.astype(np.int64) << np.arange(width, dtype=np.int64)).sum(axis=1)
    if signed:
        codes = np.where(codes >= 1 << (width - 1), codes - (1 << width), codes)
    return codes


def load_checkpoint(path, trial_id, master=False):
    """/trial/<id>/checkpoint as {state-dict name: float32 numpy array}, packed codes unpacked to the
    values the trial computed with (quantized weights dequantized). master=True: also "master", the
    float parameter buffer, when the file keeps it."""
    import numpy as np
    out = {}
    with h5py.File(path, "r") as f:
        g = f["trial/%d/checkpoint" % trial_id]
        for name, d in g.items():
            if not isinstance(d, h5py.Dataset) or "encoding" not in d.attrs:
                if name == "master" and master:
                    out[name] = d[:]
                continue
            enc = d.attrs["encoding"]
            enc = enc.decode() if isinstance(enc, bytes) else enc
            shape = tuple(int(s) for s in d.attrs["shape"])
            if enc == "float32":
                out[name] = d[:].reshape(shape)
                continue
            n, width = int(np.prod(shape)), int(d.attrs["width"])
            codes = _unpack_codes(d[:], n, width, enc != "binary").astype(np.float32)
            rows = shape[0] if len(shape) == 2 else 1
            if enc == "fixed":
                vals = np.ldexp(codes, -int(d.attrs["frac_width"])).astype(np.float32)
            elif enc == "binary" and int(d.attrs.get("bipolar", 0)):
                vals = np.where(codes != 0, 1.0, -1.0).astype(np.float32)
            else:
                scale = g["scale"][name][:].astype(np.float32)
                vals = codes.reshape(rows, -1) * scale[:, None]
            out[name] = np.asarray(vals, dtype=np.float32).reshape(shape)
    return out


def load_stages(path):
    """/stages as {name: dict}: the stage's attributes (kind, method, metric, goal, ntrials, done,
    failed, best_trial, best_value), best_params (a dict, from the JSON attribute) and best_so_far
    (a numpy array: the best metric over the stage's first k+1 recorded trials in trial-id order;
    failed trials repeat the value before them). Stages of files written before best_so_far have
    best_params {} and best_so_far None."""
    import json
    out = {}
    with h5py.File(path, "r") as f:
        if "stages" not in f:
            return out
        for name, g in f["stages"].items():
            d = {}
            for k, v in g.attrs.items():
                v = v.decode() if isinstance(v, bytes) else v
                d[k] = v.item() if hasattr(v, "item") else v
            d["best_params"] = json.loads(d.get("best_params") or "{}")
            d["best_so_far"] = g["best_so_far"][:] if "best_so_far" in g else None
            out[name] = d
    return out


def load_job(path):
    """The job file the study ran (root attribute `job`) as a dict (PyYAML), {} when missing."""
    import yaml
    with h5py.File(path, "r") as f:
        text = f.attrs.get("job", "")
    text = text.decode() if isinstance(text, bytes) else str(text)
    return yaml.safe_load(text) or {} if text else {}


# model.preset -> (layers, hidden_size, intermediate_size), as docs/jobs.md lists them
BERT_PRESETS = {"bert-tiny": (2, 128, 512), "bert-mini": (4, 256, 1024), "bert-small": (4, 512, 2048)}


def linear_layers(job, num_labels=2):
    """The model's Linear layers in model order as [(name, in_features, out_features)], from the job's
    model section (arch, preset, embed_dim, hidden_size, layers, intermediate_size; defaults as in
    docs/jobs.md). A model.pretrained checkpoint's own config is not read: its sizes are those the
    job states or the preset's."""
    m = (job or {}).get("model", {}) or {}
    if m.get("arch", "mlp") == "mlp":
        e, h = int(m.get("embed_dim", 64)), int(m.get("hidden_size", 128))
        return [("fc1", e, h), ("fc2", h, num_labels)]
    nl, h, i = BERT_PRESETS.get(m.get("preset", "bert-tiny"), BERT_PRESETS["bert-tiny"])
    nl, h, i = int(m.get("layers", nl)), int(m.get("hidden_size", h)), int(m.get("intermediate_size", i))
    out = []
    for n in range(nl):
        p = f"bert.encoder.layer.{n}."
        out += [(p + "attention.self.query", h, h), (p + "attention.self.key", h, h), (p + "attention.self.value", h, h),
                (p + "attention.output.dense", h, h), (p + "intermediate.dense", h, i), (p + "output.dense", i, h)]
    return out + [("bert.pooler.dense", h, h), ("classifier", h, num_labels)]


def _flatten(d, prefix=""):
    out = {}
    for k, v in (d or {}).items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def layer_format(row, job, layer):
    """The weight format of `layer` in a trial: {"name": ..., "width": ..., other keys}. The most
    specific setting wins: the trial's params/layers.<layer>.quant.weight.<key>, then
    params/layers.<layer>.quant.<key>, params/quant.weight.<key>, params/quant.<key>, then the job's
    layers: section and quant: section likewise. A new name (a more specific quant.name) drops the
    keys of less specific levels. No name at all: "none" (fp32)."""
    job_flat = {**{"quant." + k: v for k, v in _flatten((job or {}).get("quant")).items()},
                **{"layers." + k: v for k, v in _flatten((job or {}).get("layers")).items()}}
    params = {}
    for k, v in dict(row).items():
        if isinstance(k, str) and k.startswith("params/") and v is not None and not (isinstance(v, float) and v != v) and v != "":
            params[k[7:]] = v
    levels = []
    for src in (job_flat, params):  # least specific first
        for pre in ("quant.", "quant.weight.", f"layers.{layer}.quant.", f"layers.{layer}.quant.weight."):
            keys = {k[len(pre):]: v for k, v in src.items() if k.startswith(pre) and "." not in k[len(pre):]}
            levels.append(keys)
    # least to most specific: job global, job weight, trial global, trial weight, then the layer's own
    # keys likewise (a layer's setting beats any global one, the trial's beats the job's)
    order = [levels[0], levels[1], levels[4], levels[5], levels[2], levels[3], levels[6], levels[7]]
    fmt = {}
    for keys in order:
        if "name" in keys:
            fmt = {}
        fmt.update(keys)
    if fmt and "name" not in fmt:
        fmt["name"] = "integer"  # quant.width alone: the job's default format is integer
    fmt.setdefault("name", "none")
    return fmt


def bits_per_weight(fmt):
    """Storage bits per weight of a format dict: integer, log, minifloat_* -> width; fp16/bf16 16;
    binary 1; ternary 2; int8 8 + a 32-bit row scale (ignored per element); nf4/fp4 4 + a 32-bit
    absmax per block_size (64) weights; block_fp, block_minifloat, block_log, mxint, mxfp -> element
    bits + an 8-bit shared exponent per block_size; none/fp32 32."""
    name = str(fmt.get("name", "none"))
    def num(k, d):
        try:
            return float(fmt.get(k, d))
        except (TypeError, ValueError):
            return float(d)
    if name in ("none", "fp32", "float32"):
        return 32.0
    if name in ("fp16", "bf16"):
        return 16.0
    if name == "binary":
        return 1.0
    if name == "ternary":
        return 2.0
    if name == "int8":
        return 8.0
    if name in ("nf4", "fp4"):
        return 4.0 + 32.0 / num("block_size", 64)
    if name == "mxfp":
        return 1.0 + num("exponent_width", 4) + num("frac_width", 3) + 8.0 / num("block_size", 32)
    if name == "mxint":
        return num("width", 8) + 8.0 / num("block_size", 32)
    if name in ("block_fp", "block_minifloat", "block_log"):
        extra = num("exponent_width", 8) if name == "block_fp" else num("exponent_bias_width", 8)
        return num("width", 12 if name == "block_fp" else 8) + extra / num("block_size", 16)
    return num("width", 32)  # integer, log, minifloat_denorm, minifloat_ieee


def memory_footprint(row, job):
    """The weight memory of a trial's Linear layers against fp32.

    row: a trial (a /trials row from load_trials, or any mapping with params/<name> keys); job: the
    job as a dict (load_job). Each Linear layer's weight matrix (in_features x out_features, from
    linear_layers(job)) is stored with layer_format(row, job, layer) at bits_per_weight(...) bits
    per weight; embeddings, biases and norms are not counted (they stay fp32 in every study).
    Returns {"layers": [(layer, format dict, bits per weight, n weights, bytes)], "bytes": total,
    "fp32_bytes": total at 32 bits, "ratio": bytes / fp32_bytes}."""
    layers, total, fp32 = [], 0.0, 0.0
    for name, fin, fout in linear_layers(job):
        fmt = layer_format(row, job, name)
        bits = bits_per_weight(fmt)
        n = fin * fout
        layers.append((name, fmt, bits, n, n * bits / 8.0))
        total += n * bits / 8.0
        fp32 += n * 4.0
    return {"layers": layers, "bytes": total, "fp32_bytes": fp32, "ratio": total / fp32 if fp32 else float("nan")}
