# Search stages (method: tpe|random|grid): a TPE stage under mpi 3 with constant liar, a random stage
# reproducible with one rank, a grid stage visiting every point once, and resume after a kill.
source "$(dirname "$0")/lib.sh"
JOB="$JOBS/search.yaml"

mpi 3 "$QUENCH" run "$JOB" -o "$WORK/mpi.h5" --progress plain >"$WORK/mpi.log" 2>&1 || die "mpi run: $(cat "$WORK/mpi.log")"
HDF5_USE_FILE_LOCKING=FALSE "$PYTHON" - "$WORK/mpi.h5" <<'PY' || die "mpi results"
import sys, h5py, math
t = h5py.File(sys.argv[1], "r")["trials"]; n = int(t.attrs["rows"])
assert n == 25, n
ids = sorted(int(i) for i in t["id"][:n]); assert ids == list(range(25)), ids
st = [s.decode() for s in t["stage"][:n]]
stat = [s.decode() for s in t["status"][:n]]; assert all(s == "done" for s in stat), stat
w = t["params/quant.width"][:n]; lr = t["params/train.lr"][:n]; acc = t["metrics/qat_accuracy"][:n]
tpe = [i for i in range(n) if st[i] == "tpe"]; assert len(tpe) == 14
assert all(w[i] in (4, 8, 16) and 1e-4 <= lr[i] <= 1e-1 and not math.isnan(acc[i]) for i in tpe)
assert len({(w[i], lr[i]) for i in tpe}) == 14, "TPE repeated a point"
grid = [i for i in range(n) if st[i] == "grid"]
bs = t["params/train.batch_size"][:n]
pts = sorted((w[i], bs[i]) for i in grid)
assert pts == sorted((a, b) for a in (4, 8) for b in (8, 16, 24)), pts
PY

# One rank: a study is reproducible to the bit.
for k in 1 2; do
  "$QUENCH" run "$JOB" -o "$WORK/one-$k.h5" --progress quiet >/dev/null || die "run $k"
  "$QUENCH" export "$WORK/one-$k.h5" --csv | cut -d, -f1-3,6,9- >"$WORK/one-$k.csv"
done
diff "$WORK/one-1.csv" "$WORK/one-2.csv" || die "two one-rank runs differ"

# Kill after a few trials, resume: every trial exactly once, and (one rank) the same table.
"$QUENCH" run "$JOB" -o "$WORK/killed.h5" --progress plain >"$WORK/run.log" 2>&1 &
pid=$!
"$PYTHON" - "$WORK/killed.h5" <<'PY' || true
import sys, time, h5py, os
os.environ["HDF5_USE_FILE_LOCKING"] = "FALSE"
for _ in range(600):
    try:
        if int(h5py.File(sys.argv[1], "r")["trials"].attrs["rows"]) >= 5: break
    except Exception: pass
    time.sleep(0.01)
PY
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
"$QUENCH" run "$JOB" -o "$WORK/killed.h5" --resume --progress plain >"$WORK/resume.log" 2>&1 || die "resume: $(cat "$WORK/resume.log")"
$CHECK "$WORK/killed.h5" --trials 25 --done 25 --failed 0 >/dev/null
"$QUENCH" export "$WORK/killed.h5" --csv | cut -d, -f1-3,6,9- | sort -n >"$WORK/resumed.csv"
sort -n "$WORK/one-1.csv" | diff - "$WORK/resumed.csv" || die "the resumed study differs from an uninterrupted one"
echo "ok"
