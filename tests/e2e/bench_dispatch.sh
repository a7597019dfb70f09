# quench bench dispatch: the JSON's shape, and the results file of the timed run holds every trial
# exactly once, done (no timing assertion); one-line errors with exit code 2 for bad flags.
source "$(dirname "$0")/lib.sh"

"$QUENCH" bench dispatch --ranks 3 --trials 600 -o "$WORK/d.h5" --json >"$WORK/d.json" \
  || die "bench dispatch failed: $(cat "$WORK/d.json")"
"$PYTHON" - "$WORK/d.json" "$WORK/d.h5" <<'PY' || die "bench dispatch: unexpected output or results"
import json, os, sys
import h5py
o = json.loads(open(sys.argv[1]).read())
assert isinstance(o["trials_per_s"], (int, float)) and o["trials_per_s"] > 0, o
assert o["ranks"] == 3 and o["workers"] == 2 and o["trials"] == 600 and o["small_trials"] == 60, o
assert o["seconds"] > o["small_seconds"] > 0, o
f = h5py.File(sys.argv[2], "r")
t = f["trials"]
rows = int(t.attrs["rows"])
ids = sorted(int(i) for i in t["id"][:])
assert rows == 600 and ids == list(range(600)), (rows, ids[:5], len(ids))
assert all(s == b"done" for s in t["status"][:]), set(t["status"][:])
assert sorted(int(w) for w in set(t["worker"][:])) == [1, 2], set(t["worker"][:])
assert int(f["stages/dispatch"].attrs["done"]) == 600
assert not os.path.exists(sys.argv[2] + ".quench-journal"), "a journal outlived the run"
PY
# the plain output explains the figure
"$QUENCH" bench dispatch --ranks 2 --trials 100 >"$WORK/d.txt" || die "bench dispatch (text) failed"
grep -q "trials/s in the dispatch phase" "$WORK/d.txt" || die "no figure in: $(cat "$WORK/d.txt")"

expect_usage_error "bench dispatch --ranks 1"
expect_usage_error "bench dispatch --trials 50"
expect_usage_error "bench dispatch --seeds 3"
expect_usage_error "bench kernels --ranks 4"
expect_rc 2 "$QUENCH" bench dispatch --trials 100 -o "$WORK/d.h5"
echo "bench dispatch: ok"
