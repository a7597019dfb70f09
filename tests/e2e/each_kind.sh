# placement: each_device_kind (docs/jobs.md, Inference stages): every trial once on each device kind
# present. mpirun with two fake worker kinds (QUENCH_FAKE_DEVICES) gives 3 precisions x 2 kinds, each
# row with its params/device.kind and run by a worker of that kind; one rank gives the CPU alone;
# kill -9 in the middle and --resume keeps the first run's kinds and repeats nothing; a resume where
# one kind is gone refuses its trials with the reason; validate and bench schedule expand on
# --cluster. The model is written with the standard library alone (tiny_llm_pure.py).
source "$(dirname "$0")/lib.sh"

"$PYTHON" "$SRC/tests/e2e/tiny_llm_pure.py" "$WORK/models/tiny"
cp "$JOBS/each_kind.yaml" "$WORK/each_kind.yaml"
cd "$WORK" # the job names models/tiny relative to here
export HDF5_USE_FILE_LOCKING=FALSE # the row counter reads the file while the run writes it

check_rows() { # FILE KINDS...: each (precision, kind) once, done, by a worker of the kind
  "$PYTHON" - "$@" <<'PY'
import sys
import h5py
path, kinds = sys.argv[1], sys.argv[2:]
labels = {"cpu": None, "rtx2080ti": "NVIDIA GeForce RTX 2080 Ti", "l40s": "NVIDIA L40S"}
precisions = ["fp32", "w8a16", "int8"]
with h5py.File(path, "r") as f:
    t = f["trials"]
    n = int(t.attrs["rows"])
    s = lambda col, i: (lambda v: v.decode() if isinstance(v, bytes) else str(v))(t[col][i])
    rows = [(int(t["id"][i]), s("params/llm.precision", i), s("params/device.kind", i), s("status", i),
             s("device", i)) for i in range(n)]
ids = sorted(r[0] for r in rows)
assert ids == list(range(len(precisions) * len(kinds))), ("ids", ids)
for id_, prec, kind, status, device in rows:
    # the kinds are the last axis, sorted: id = point * nkinds + kind
    assert (prec, kind) == (precisions[id_ // len(kinds)], sorted(kinds)[id_ % len(kinds)]), (id_, prec, kind)
    assert status == "done", (id_, status)
    assert labels[kind] is None or device == labels[kind], (id_, kind, device)
print(f"{path}: {n} rows checked")
PY
}
count_rows() { "$PYTHON" -c '
import sys, h5py
try:
    print(int(h5py.File(sys.argv[1], "r")["trials"].attrs["rows"]))
except Exception:
    print(0)' "$1"; }

# --- two kinds under mpirun ---
QUENCH_FAKE_DEVICES=rtx2080ti,l40s mpi 3 "$QUENCH" run each_kind.yaml -o mpi.h5 --progress plain >mpi.log 2>&1 \
  || die "mpi run: $(tail -5 mpi.log)"
grep -q "^placement: each_device_kind on the kinds present: l40s rtx2080ti$" mpi.log || die "no kinds note: $(head -3 mpi.log)"
grep -q "^study e2e-each-kind: 6 trials, 6 done, 0 failed" mpi.log || die "mpi: $(tail -4 mpi.log)"
check_rows mpi.h5 rtx2080ti l40s || die "mpi.h5: rows wrong"

# --- one rank: the CPU ---
"$QUENCH" run each_kind.yaml -o cpu.h5 --progress plain >cpu.log 2>&1 || die "single rank: $(tail -5 cpu.log)"
grep -q "^study e2e-each-kind: 3 trials, 3 done" cpu.log || die "cpu: $(tail -4 cpu.log)"
check_rows cpu.h5 cpu || die "cpu.h5: rows wrong"

# --- kill -9 in the middle, then --resume on the same kinds: each trial once, nothing run twice ---
out="$WORK/killed.h5"
QUENCH_FAKE_DEVICES=rtx2080ti,l40s setsid "$MPIEXEC" --oversubscribe -np 3 "$QUENCH" run each_kind.yaml -o "$out" \
  --progress plain >kill.log 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  [[ -f $out ]] && (( $(count_rows "$out") >= 1 )) && break
  kill -0 "$pid" 2>/dev/null || die "the run ended before it could be killed: $(cat kill.log)"
  sleep 0.05
done
kill -9 -- "-$pid" 2>/dev/null || true
# the ranks are in process groups of their own: this run's, by their unique output path
for p in $(pgrep -f -- "run each_kind.yaml -o $out" || true); do kill -9 "$p" 2>/dev/null || true; done
wait "$pid" 2>/dev/null || true
(( $(count_rows "$out") < 6 )) || die "killed after the last trial: not in the middle"
cp "$out" "$WORK/gone.h5"
grep -o "trial [0-9]* bench" kill.log | sort >before.txt || true
QUENCH_FAKE_DEVICES=l40s,rtx2080ti mpi 3 "$QUENCH" run each_kind.yaml -o "$out" --resume --progress plain >resume.log 2>&1 \
  || die "resume: $(tail -5 resume.log)"
grep -q "^placement: each_device_kind on the kinds of the first run: l40s rtx2080ti$" resume.log \
  || die "resume: no kinds note: $(head -3 resume.log)"
# the count from the file as resume reads it (a row may still be in the journal for count_rows)
rows=$(sed -n 's/^resuming: \([0-9]*\) of 6 trials already recorded$/\1/p' resume.log)
(( ${rows:-0} >= 1 && rows < 6 )) || die "resume: $(head -4 resume.log)"
grep -o "trial [0-9]* bench" resume.log | sort >after.txt || true
[[ $(wc -l <after.txt) -eq $((6 - rows)) ]] || die "resume ran $(wc -l <after.txt) trials, expected $((6 - rows))"
[[ -z $(comm -12 before.txt after.txt) ]] || die "resume repeated: $(comm -12 before.txt after.txt)"
check_rows "$out" rtx2080ti l40s || die "resumed file: rows wrong"

# --- resumed where the l40s is gone: the ids stay, its pending trials fail with the reason ---
set +e
QUENCH_FAKE_DEVICES=rtx2080ti mpi 2 "$QUENCH" run each_kind.yaml -o gone.h5 --resume --progress plain >gone.log 2>&1
rc=$?
set -e
grep -q "^placement: each_device_kind on the kinds of the first run: l40s rtx2080ti$" gone.log || die "gone: $(head -3 gone.log)"
grep -q "^study e2e-each-kind: 6 trials" gone.log || die "gone: $(tail -4 gone.log)"
refused=$(grep -c "device.kind=l40s  FAILED: device.kind l40s: there is no worker of that kind" gone.log || true)
"$PYTHON" - gone.h5 "$refused" <<'PY' || die "gone.h5: $(cat gone.log)"
import sys
import h5py
with h5py.File(sys.argv[1], "r") as f:
    t = f["trials"]
    s = lambda col, i: (lambda v: v.decode() if isinstance(v, bytes) else str(v))(t[col][i])
    rows = [(int(t["id"][i]), s("params/device.kind", i), s("status", i), s("error", i)) for i in range(int(t.attrs["rows"]))]
assert sorted(r[0] for r in rows) == list(range(6)), rows
failed = [r for r in rows if r[2] != "done"]
assert all(k == "l40s" and e == "device.kind l40s: there is no worker of that kind" for _, k, _, e in failed), failed
assert len(failed) == int(sys.argv[2]), (failed, sys.argv[2])
PY
(( refused == 0 ? rc == 0 : rc != 0 )) || die "gone: exit $rc with $refused refused"

# --- validate: unknown kinds, then the cluster's; bench schedule on the cluster's ---
"$QUENCH" validate each_kind.yaml >v.out || die "validate: $(cat v.out)"
grep -q "x each device kind present at run time" v.out || die "validate: $(cat v.out)"
"$QUENCH" validate each_kind.yaml --cluster 2xrtx2080ti,1xl40s,1xh200 >vc.out || die "validate --cluster: $(cat vc.out)"
grep -q "bench *inference *9 " vc.out || die "validate --cluster: expected 9 trials: $(cat vc.out)"
grep -q "device.kind (3): h200, l40s, rtx2080ti (placement: each_device_kind)" vc.out || die "validate --cluster: $(cat vc.out)"
"$QUENCH" bench schedule each_kind.yaml --cluster 2xrtx2080ti,1xl40s >bs.out || die "bench schedule: $(cat bs.out)"
grep -q "^e2e-each-kind: 6 trials on 3 devices" bs.out || die "bench schedule: $(head -2 bs.out)"
echo "each_kind: ok"
