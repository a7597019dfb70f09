"""Load a quench results file (docs/results-format.md) into pandas.

    import sys; sys.path.insert(0, "analysis")
    from quench_results import load_trials, load_curve
    df = load_trials("study.h5")            # one row per recorded trial
    loss = load_curve("study.h5", 3)        # /trial/3/train_loss as a numpy array
    sd = load_checkpoint("study.h5", 3)     # {"bert.encoder.layer.0...weight": array, ...}, unpacked

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
