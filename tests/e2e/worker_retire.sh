# A worker whose device breaks is retired, not fed trial after trial (docs/faults.md, "A worker whose
# device breaks"). mpirun -np 4 with the test hooks of worker/debug_fault.h:
#  - QUENCH_DEBUG_BROKEN_RANK=2: rank 2's device goes at its first trial and its runner cannot start
#    again: the worker is retired with one line naming its rank, host and device, the trial goes to
#    another worker, and every trial ends done exactly once on ranks 1 and 3;
#  - ...=2:start: rank 2 has no device from the start: retired at once, the others run everything;
#  - QUENCH_DEBUG_DEVICE_ERROR_RANK=3: rank 3's trials end with a fatal CUDA error: retired after 3 in
#    a row while the others finish theirs; the failures stay recorded, only on rank 3;
#  - every worker broken: the run ends with exit 4 and the command to finish it; the file is sound
#    and --resume on working ranks finishes the study.
source "$(dirname "$0")/lib.sh"
export HDF5_USE_FILE_LOCKING=FALSE
cat >"$WORK/job.yaml" <<'EOF2'
name: e2e-retire
seed: 2
model: {arch: null}
stages:
  - name: first
    run: [train, eval]
    grid:
      debug.sleep_ms: [20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31]
  - name: then
    from: best(first, accuracy)
    run: [train, eval]
    grid:
      debug.sleep_ms: [5, 6, 7, 8]
EOF2

# FILE STATUS RANKS...: trials 0..15 each recorded once, every one with STATUS (done: by one of RANKS).
check() { "$PYTHON" - "$@" <<'PY'
import sys, h5py
path, want, ranks = sys.argv[1], sys.argv[2], {int(r) for r in sys.argv[3:]}
dec = lambda v: v.decode() if isinstance(v, bytes) else str(v)
with h5py.File(path, "r") as f:
    t = f["trials"]
    ids = sorted(int(i) for i in t["id"][:])
    assert ids == list(range(16)), ("each trial once", ids)
    for i, st, w in zip(t["id"][:], t["status"][:], t["worker"][:]):
        assert dec(st) == want, (path, int(i), dec(st))
        assert want != "done" or int(w) in ranks, (path, "trial", int(i), "ran on rank", int(w))
print(path, "ok")
PY
}
# the device name may hold parentheses itself ("Intel(R) Xeon(R) Processor")
retired_line='worker rank 2 \(host [^,]+, device .+\) retired, no more trials go to it: could not restart the trial runner'

# One broken worker: its trial goes elsewhere, nothing is recorded failed.
QUENCH_DEBUG_BROKEN_RANK=2 mpi 4 "$QUENCH" run "$WORK/job.yaml" -o "$WORK/one.h5" --progress plain >"$WORK/one.log" 2>&1 \
  || die "one broken worker: exit $?: $(cat "$WORK/one.log")"
[[ $(grep -Ec "$retired_line" "$WORK/one.log") -eq 1 ]] || die "no single retirement line: $(cat "$WORK/one.log")"
grep -Eq "^trial [0-9]+ goes to another worker \(not counted as failed\)" "$WORK/one.log" || die "no requeue: $(cat "$WORK/one.log")"
grep -q "16 trials, 16 done, 0 failed" "$WORK/one.log" || die "one broken worker: $(cat "$WORK/one.log")"
check "$WORK/one.h5" done 1 3

# No device from the start: retired before any trial.
QUENCH_DEBUG_BROKEN_RANK=2:start mpi 4 "$QUENCH" run "$WORK/job.yaml" -o "$WORK/start.h5" --progress plain >"$WORK/start.log" 2>&1 \
  || die "a worker without a device: exit $?: $(cat "$WORK/start.log")"
grep -Eq "worker rank 2 \(host [^,]+, device none\) retired, no more trials go to it: its trial runner could not start" \
  "$WORK/start.log" || die "no retirement line: $(cat "$WORK/start.log")"
check "$WORK/start.h5" done 1 3

# Fatal CUDA errors in a row on rank 3 while ranks 1 and 2 finish theirs: retired after 3.
set +e
QUENCH_DEBUG_DEVICE_ERROR_RANK=3 mpi 4 "$QUENCH" run "$WORK/job.yaml" -o "$WORK/cuda.h5" --progress plain >"$WORK/cuda.log" 2>&1
rc=$?; set -e
[[ $rc -eq 3 ]] || die "device errors: exit $rc, expected 3: $(cat "$WORK/cuda.log")"
grep -Eq "worker rank 3 \(host [^,]+, device .+\) retired, no more trials go to it: [0-9]+ trials in a row failed with device errors" \
  "$WORK/cuda.log" || die "rank 3 was not retired: $(cat "$WORK/cuda.log")"
"$PYTHON" - "$WORK/cuda.h5" <<'PY' || die "device errors: $(cat "$WORK/cuda.log")"
import sys, h5py
dec = lambda v: v.decode() if isinstance(v, bytes) else str(v)
with h5py.File(sys.argv[1], "r") as f:
    t = f["trials"]
    assert sorted(int(i) for i in t["id"][:]) == list(range(16))
    failed = [(int(i), int(w), dec(e)) for i, s, w, e in zip(t["id"][:], t["status"][:], t["worker"][:], t["error"][:]) if dec(s) == "failed"]
    assert len(failed) >= 3, failed
    assert all(w == 3 and "an illegal memory access was encountered" in e for _, w, e in failed), failed
print("device errors: %d failed, all on rank 3" % len(failed))
PY
# after the retirement line, nothing more runs on rank 3
sed -n '/^worker rank 3 .* retired/,$p' "$WORK/cuda.log" | grep -q "^\[.*  rank 3 (" && die "rank 3 ran trials after it was retired: $(cat "$WORK/cuda.log")"

# Every worker broken: exit 4, nothing recorded failed, and --resume on working ranks finishes.
set +e
QUENCH_DEBUG_BROKEN_RANK=1,2,3 mpi 4 "$QUENCH" run "$WORK/job.yaml" -o "$WORK/all.h5" --progress plain >"$WORK/all.log" 2>&1
rc=$?; set -e
[[ $rc -eq 4 ]] || die "every worker broken: exit $rc, expected 4: $(cat "$WORK/all.log")"
[[ $(grep -c "retired, no more trials go to it" "$WORK/all.log") -eq 3 ]] || die "not 3 retirements: $(cat "$WORK/all.log")"
grep -q "quench: no worker can run the 16 trials left (3 of 3 workers retired" "$WORK/all.log" || die "no clear error: $(cat "$WORK/all.log")"
grep -q "finish with  quench run $WORK/job.yaml -o $WORK/all.h5 --resume" "$WORK/all.log" || die "no resume hint: $(cat "$WORK/all.log")"
grep -q "16 trials, 0 done, 0 failed, 16 not run" "$WORK/all.log" || die "summary: $(cat "$WORK/all.log")"
mpi 3 "$QUENCH" run "$WORK/job.yaml" -o "$WORK/all.h5" --resume --progress plain >"$WORK/resume.log" 2>&1 \
  || die "--resume: exit $?: $(cat "$WORK/resume.log")"
check "$WORK/all.h5" done 1 2

# One process whose device breaks: the same exit 4, the trial unrecorded, --resume finishes.
expect_rc 4 env QUENCH_DEBUG_BROKEN_RANK=0 "$QUENCH" run "$WORK/job.yaml" -o "$WORK/inline.h5" --progress plain >"$WORK/inline.log" 2>&1
grep -q "cannot run trials any more" "$WORK/inline.log" || die "one process: $(cat "$WORK/inline.log")"
"$QUENCH" run "$WORK/job.yaml" -o "$WORK/inline.h5" --resume --progress plain >"$WORK/inline-resume.log" 2>&1 \
  || die "one process --resume: $(cat "$WORK/inline-resume.log")"
check "$WORK/inline.h5" done 0
echo "ok"
