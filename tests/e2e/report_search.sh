# Search stages and per-layer precision in the results file and the report: /stages/<name>/best_so_far
# is the running best of the stage's metric in trial-id order (also under mpirun, where trials finish
# out of order), the best trial's attributes and parameters are there, --resume leaves them right, and
# quench report draws best_so_far.png and layer_formats.png.
source "$(dirname "$0")/lib.sh"
JOB="$JOBS/report_search.yaml"

check() {
  HDF5_USE_FILE_LOCKING=FALSE "$PYTHON" - "$1" "$SRC/analysis" <<'PY'
import json, math, sys
import h5py, numpy as np
sys.path.insert(0, sys.argv[2])
from quench_results import load_job, load_stages, load_trials, memory_footprint
f = h5py.File(sys.argv[1], "r")
t = f["trials"]; n = int(t.attrs["rows"])
ids = t["id"][:n]; stage = t["stage"].asstr()[:n]; status = t["status"].asstr()[:n]
acc = t["metrics/qat_accuracy"][:n]
expect = {"tpe": ("tpe", 8), "rand": ("random", 6), "layers": ("grid", 2)}
for name, (method, count) in expect.items():
    g = f["stages/" + name]
    for k in ("kind", "method", "metric", "goal", "ntrials", "done", "failed", "best_trial", "best_value", "best_params"):
        assert k in g.attrs, (name, k, dict(g.attrs))
    assert g.attrs["method"] == method, (name, g.attrs["method"])
    rows = sorted((int(ids[i]), acc[i] if status[i] == "done" else math.nan) for i in range(n) if stage[i] == name)
    assert len(rows) == count, (name, rows)
    bsf = g["best_so_far"][:]
    assert bsf.dtype == np.float64 and len(bsf) == count, (name, bsf)
    want = np.fmax.accumulate(np.array([v for _, v in rows]))
    assert np.array_equal(bsf, want), (name, bsf, want)
    assert np.all(np.diff(bsf) >= 0), (name, "not monotone", bsf)
    best = int(g.attrs["best_trial"]); bv = float(g.attrs["best_value"])
    assert bv == bsf[-1] and best == next(i for i, v in rows if v == bv), (name, best, bv, rows)
    params = json.loads(g.attrs["best_params"])
    row = list(ids).index(best)
    for k, v in params.items():
        col = t["params/" + k]
        got = col.asstr()[row] if col.dtype.kind in "OS" else col[row]
        assert got == v, (name, k, got, v)
    assert params, (name, "no best_params")
    assert int(g.attrs["done"]) + int(g.attrs["failed"]) == count
assert "layers.fc1.quant.width" in json.loads(f["stages/tpe"].attrs["best_params"])
# the memory arithmetic: fc1 8x8, fc2 8x2 weights of the mlp
df = load_trials(sys.argv[1]); job = load_job(sys.argv[1]); st = load_stages(sys.argv[1])
r = df[df["id"] == st["layers"]["best_trial"]].iloc[0]
fp = memory_footprint(r, job)
w1 = r["params/layers.fc1.quant.width"]
assert fp["fp32_bytes"] == (64 + 16) * 4 and fp["bytes"] == (64 * w1 + 16 * 16) / 8, fp
print(",".join("%s:%s" % (k, list(st[k]["best_so_far"])) for k in sorted(st)))
PY
}

"$QUENCH" run "$JOB" -o "$WORK/one.h5" --progress quiet >/dev/null || die "run"
check "$WORK/one.h5" >"$WORK/one.txt" || die "one-rank results"
cp "$WORK/one.h5" "$WORK/again.h5"
"$QUENCH" run "$JOB" -o "$WORK/again.h5" --resume --progress quiet >/dev/null || die "resume of a finished study"
check "$WORK/again.h5" >"$WORK/again.txt" || die "results after --resume"
diff "$WORK/one.txt" "$WORK/again.txt" || die "--resume changed best_so_far"
mpi 3 "$QUENCH" run "$JOB" -o "$WORK/mpi.h5" --progress quiet >"$WORK/mpi.log" 2>&1 || die "mpi run: $(cat "$WORK/mpi.log")"
check "$WORK/mpi.h5" >/dev/null || die "mpi results"

"$QUENCH" report "$WORK/one.h5" -o "$WORK/rep" >"$WORK/report.log" || die "report failed: $(cat "$WORK/report.log")"
for f in index.html best_so_far.png layer_formats.png; do
  [[ -s $WORK/rep/$f ]] || die "report lacks $f"
done
for f in best_so_far.png layer_formats.png; do
  [[ $(head -c 8 "$WORK/rep/$f" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || die "$f is not a PNG"
  grep -q "src='$f'" "$WORK/rep/index.html" || die "index.html lacks $f"
done
grep -q "Weight memory of the best per-layer trials" "$WORK/rep/index.html" || die "index.html lacks the memory table"
echo ok
