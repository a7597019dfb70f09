"""Checks a quench results file with h5py, as a user's analysis script would read it.

usage: check_results.py FILE --trials N [--done D] [--failed F] [--param NAME ...] [--metric NAME ...]
Exits 1 with a message on the first violation."""
import argparse
import math
import sys

import h5py
import numpy as np
import pandas as pd


def fail(msg):
    print("check_results: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--trials", type=int, required=True)
    ap.add_argument("--done", type=int)
    ap.add_argument("--failed", type=int)
    ap.add_argument("--param", action="append", default=[])
    ap.add_argument("--metric", action="append", default=[])
    ap.add_argument("--curve", action="append", default=[], help="STAGE:CURVE every done trial of STAGE must have")
    ap.add_argument("--dump-csv")
    a = ap.parse_args()

    with h5py.File(a.file, "r") as f:
        if f.attrs["format"] not in (b"quench-results", "quench-results"):
            fail("format attribute is %r" % f.attrs["format"])
        job = f.attrs["job"]
        if isinstance(job, bytes):
            job = job.decode()
        if "stages:" not in job:
            fail("root attribute job does not hold the job text")
        t = f["trials"]
        cols = {}
        t.visititems(lambda name, obj: cols.__setitem__(name, obj[:]) if isinstance(obj, h5py.Dataset) else None)
        lengths = {k: len(v) for k, v in cols.items()}
        if len(set(lengths.values())) != 1:
            fail("columns differ in length: %s" % lengths)
        df = pd.DataFrame({k: (v.astype(str) if v.dtype == object else v) for k, v in cols.items()})
        for k in list(df.columns):
            if df[k].dtype == object:
                df[k] = [x.decode() if isinstance(x, bytes) else x for x in cols[k]]
        if int(t.attrs["rows"]) != len(df):
            fail("rows attribute %s != column length %d" % (t.attrs["rows"], len(df)))
        for c in ["id", "stage", "status", "device", "worker", "start_time", "wall_s", "error", "parent"]:
            if c not in df.columns:
                fail("missing column %s" % c)
        if len(df) != a.trials:
            fail("%d rows, expected %d" % (len(df), a.trials))
        ids = sorted(df["id"].tolist())
        if ids != list(range(a.trials)):
            fail("trial ids are not each present exactly once: %s" % ids)
        st = df["status"].value_counts().to_dict()
        if a.done is not None and st.get("done", 0) != a.done:
            fail("%s done, expected %d (%s)" % (st.get("done", 0), a.done, st))
        if a.failed is not None and st.get("failed", 0) != a.failed:
            fail("%s failed, expected %d (%s)" % (st.get("failed", 0), a.failed, st))
        for p in a.param:
            if "params/" + p not in df.columns:
                fail("missing column params/%s (have %s)" % (p, [c for c in df.columns if c.startswith("params/")]))
        for m in a.metric:
            if "metrics/" + m not in df.columns:
                fail("missing column metrics/%s (have %s)" % (m, [c for c in df.columns if c.startswith("metrics/")]))
        done = df[df["status"] == "done"]
        for _, row in done.iterrows():
            g = f["trial"][str(int(row["id"]))]
            for sc in a.curve:
                stage, curve = sc.split(":")
                if row["stage"] == stage and (curve not in g or len(g[curve]) == 0):
                    fail("trial %d of stage %s has no curve %s" % (row["id"], stage, curve))
            if not (row["wall_s"] >= 0):
                fail("trial %d has wall_s %r" % (row["id"], row["wall_s"]))
        failed = df[df["status"] == "failed"]
        for _, row in failed.iterrows():
            if not row["error"]:
                fail("failed trial %d has no error message" % row["id"])
        if "devices" not in f or int(f["devices"].attrs["rows"]) < 1:
            fail("no /devices rows")
        for name in f["stages"]:
            s = f["stages"][name]
            for k in ("kind", "ntrials", "done", "failed", "best_trial"):
                if k not in s.attrs:
                    fail("stage %s lacks attribute %s" % (name, k))
        if a.dump_csv:
            keep = [c for c in df.columns if c.startswith("params/") or c.startswith("metrics/")] + ["id", "stage", "status", "parent"]
            df.sort_values("id")[sorted(keep)].to_csv(a.dump_csv, index=False, float_format="%.17g")
    print("check_results: ok: %d trials, %s" % (a.trials, st))


main()
