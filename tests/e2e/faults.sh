# A trial that crashes its process (SIGSEGV, SIGABRT), hangs past trial_timeout or diverges costs only
# itself, in one process and under mpirun: it is recorded failed with the reason, the study goes on (a
# later stage starts from the best good trial, through a freshly started runner child) and ends with
# exit 3, and no runner child is left behind. --resume does not run the failed trials again;
# --retry-failed does. A signal's stop with hanging trials kills the children too. (docs/faults.md)
source "$(dirname "$0")/lib.sh"

JOB="$JOBS/faults.yaml"

# Every trial recorded once, each with the outcome its debug.fault asks for.
check_faults() { HDF5_USE_FILE_LOCKING=FALSE "$PYTHON" - "$1" <<'EOF'
import sys, h5py
want = {"segv": "trial crashed its process: killed by signal 11 (SIGSEGV)",
        "abort": "trial crashed its process: killed by signal 6 (SIGABRT)",
        "hang": "exceeded trial_timeout of 2 s",
        "nan": "NaN"}
dec = lambda v: v.decode() if isinstance(v, bytes) else str(v)
with h5py.File(sys.argv[1], "r") as f:
    t = f["trials"]
    ids = [int(i) for i in t["id"][:]]
    if sorted(ids) != list(range(13)):
        sys.exit("faults: trial ids %s, expected each of 0..12 once" % ids)
    for i, st, err, fault, stage in zip(ids, t["status"][:], t["error"][:], t["params/debug.fault"][:], t["stage"][:]):
        st, err, fault, stage = dec(st), dec(err), dec(fault), dec(stage)
        if stage == "after" or fault == "none":
            if st != "done" or err:
                sys.exit("faults: trial %d (%s, fault %r) is %s: %s" % (i, stage, fault, st, err))
        elif st != "failed" or want[fault] not in err:
            sys.exit("faults: trial %d (fault %s) is %s with error %r, expected failed with %r" % (i, fault, st, err, want[fault]))
print("faults: every trial has the outcome its fault asks for")
EOF
}

# No runner child (they carry their parent's command line, with this test's paths) outlives a run.
no_children_left() {
  sleep 0.2
  if pgrep -f -- "$WORK/" >"$WORK/left.txt"; then die "processes left behind after $1: $(xargs ps -o pid,comm,args -p <"$WORK/left.txt")"; fi
}

expect_rc 3 "$QUENCH" run "$JOB" -o "$WORK/one.h5" --progress plain >"$WORK/one.log" 2>&1
grep -q "5 done, 8 failed" "$WORK/one.log" || die "one process: $(cat "$WORK/one.log")"
check_faults "$WORK/one.h5"
no_children_left "the single-rank run"

expect_rc 3 mpi 3 "$QUENCH" run "$JOB" -o "$WORK/mpi.h5" --progress plain >"$WORK/mpi.log" 2>&1
grep -q "5 done, 8 failed" "$WORK/mpi.log" || die "mpirun -np 3: $(cat "$WORK/mpi.log")"
check_faults "$WORK/mpi.h5"
grep -q "FAILED: trial crashed its process: killed by signal 11 (SIGSEGV)  rank [12]" "$WORK/mpi.log" \
  || die "the crash was not reported against its worker rank: $(cat "$WORK/mpi.log")"
no_children_left "the mpirun run"

# A failed trial is final: --resume runs nothing again, and leaves the file as it is.
sum=$(HDF5_USE_FILE_LOCKING=FALSE "$PYTHON" -c 'import h5py,sys; t=h5py.File(sys.argv[1],"r")["trials"]; print([(int(i),s,e) for i,s,e in zip(t["id"][:],t["status"][:],t["error"][:])])' "$WORK/mpi.h5")
expect_rc 3 mpi 3 "$QUENCH" run "$JOB" -o "$WORK/mpi.h5" --resume --progress plain >"$WORK/resume.log" 2>&1
grep -q "resuming: 13 of 13" "$WORK/resume.log" || die "resume: $(cat "$WORK/resume.log")"
if grep -q "^\[.*\] trial " "$WORK/resume.log"; then die "--resume ran trials again: $(cat "$WORK/resume.log")"; fi
[[ $(HDF5_USE_FILE_LOCKING=FALSE "$PYTHON" -c 'import h5py,sys; t=h5py.File(sys.argv[1],"r")["trials"]; print([(int(i),s,e) for i,s,e in zip(t["id"][:],t["status"][:],t["error"][:])])' "$WORK/mpi.h5") == "$sum" ]] \
  || die "--resume changed the recorded trials"

# --retry-failed runs exactly the 8 failed ones again (in one process), and they fail the same way.
expect_rc 3 "$QUENCH" run "$JOB" -o "$WORK/mpi.h5" --resume --retry-failed --progress plain >"$WORK/retry.log" 2>&1
[[ $(grep -c "^\[.*\] trial .*FAILED" "$WORK/retry.log") -eq 8 ]] || die "--retry-failed: $(cat "$WORK/retry.log")"
[[ $(grep -c "^\[.*\] trial " "$WORK/retry.log") -eq 8 ]] || die "--retry-failed ran good trials: $(cat "$WORK/retry.log")"
check_faults "$WORK/mpi.h5"
no_children_left "--retry-failed"

# Stopped by a signal while workers' children hang (no timeout): at the end of the grace period the
# coordinator sends STOP, each busy worker kills its child, and nothing is left behind.
cat >"$WORK/hang.yaml" <<'EOF2'
name: e2e-hang
seed: 1
model: {arch: null}
stages:
  - name: s
    run: [train, eval]
    grid:
      debug.fault: [none, hang]
      debug.sleep_ms: [0, 1]
EOF2
setsid "$MPIEXEC" --oversubscribe -np 3 "$QUENCH" run "$WORK/hang.yaml" -o "$WORK/hang.h5" --grace 1 --progress plain >"$WORK/hang.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do [[ $(grep -c "^\[.*\] trial " "$WORK/hang.log") -ge 2 ]] && break; sleep 0.1; done
coord=""
for p in $(pgrep -f -- "run $WORK/hang.yaml"); do
  [[ $(cat "/proc/$p/comm" 2>/dev/null) == quench ]] && tr '\0' '\n' <"/proc/$p/environ" | grep -qx OMPI_COMM_WORLD_RANK=0 && coord=$p
done
[[ -n $coord ]] || die "no coordinator found: $(cat "$WORK/hang.log")"
kill -TERM "$coord"
set +e; timeout 60 tail --pid="$pid" -f /dev/null; wait "$pid"; rc=$?; set -e
[[ $rc -eq 143 ]] || die "stopped with hanging trials: exit $rc, expected 143: $(cat "$WORK/hang.log")"
grep -Eq "abandoned [12] running trials?" "$WORK/hang.log" || die "the hanging trials were not abandoned: $(cat "$WORK/hang.log")"
no_children_left "a stop with hanging trials"
echo "ok"
