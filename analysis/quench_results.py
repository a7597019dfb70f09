"""Load a quench results file (docs/results-format.md) into pandas.

    import sys; sys.path.insert(0, "analysis")
    from quench_results import load_trials, load_curve
    df = load_trials("study.h5")            # one row per recorded trial
    loss = load_curve("study.h5", 3)        # /trial/3/train_loss as a numpy array

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
