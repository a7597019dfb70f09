# A worker rank that never says hello does not hang the run (docs/faults.md, "Workers that never say
# hello"). QUENCH_DEBUG_SILENT_RANK=r keeps rank r silent; QUENCH_HELLO_TIMEOUT_S=3 shortens the 300 s
# wait. `timeout 120` guards every run: a hang fails the test instead of holding it.
#  - placement: each_device_kind plans on every worker's kind: the run stops with an error naming
#    the silent rank;
#  - any other job: the run goes on with the workers that said hello (here all of them fine);
#  - ...and when those are all retired (QUENCH_DEBUG_BROKEN_RANK), the run ends with exit 4 once the
#    timeout has passed, naming the silent rank; --resume then finishes the study.
source "$(dirname "$0")/lib.sh"
export HDF5_USE_FILE_LOCKING=FALSE QUENCH_HELLO_TIMEOUT_S=3
guarded() { local np=$1; shift; timeout 120 "$MPIEXEC" --oversubscribe -np "$np" "$@"; }

"$PYTHON" "$SRC/tests/e2e/tiny_llm_pure.py" "$WORK/models/tiny" >/dev/null
cp "$JOBS/each_kind.yaml" "$WORK/each_kind.yaml"
cd "$WORK" # the job names models/tiny relative to here

set +e
QUENCH_DEBUG_SILENT_RANK=2 guarded 3 "$QUENCH" run each_kind.yaml -o kinds.h5 --progress plain >kinds.log 2>&1
rc=$?; set -e
[[ $rc -ne 0 && $rc -ne 124 ]] || die "each_device_kind with a silent worker: exit $rc: $(cat kinds.log)"
grep -q "quench: 3 s passed before worker rank 2 said hello (placement: each_device_kind plans on every worker's device kind)" \
  kinds.log || die "no error naming rank 2: $(cat kinds.log)"

cat >job.yaml <<'EOF2'
name: e2e-hello
seed: 4
model: {arch: null}
stages:
  - name: s
    run: [train, eval]
    grid:
      debug.sleep_ms: [1, 2, 3, 4, 5, 6]
EOF2
QUENCH_DEBUG_SILENT_RANK=3 guarded 4 "$QUENCH" run job.yaml -o fine.h5 --progress plain >fine.log 2>&1 \
  || die "a silent worker among working ones: exit $?: $(cat fine.log)"
grep -q "6 trials, 6 done, 0 failed" fine.log || die "$(cat fine.log)"

set +e
QUENCH_DEBUG_SILENT_RANK=3 QUENCH_DEBUG_BROKEN_RANK=1,2 guarded 4 "$QUENCH" run job.yaml -o left.h5 --progress plain >left.log 2>&1
rc=$?; set -e
[[ $rc -eq 4 ]] || die "silent and broken workers: exit $rc, expected 4: $(cat left.log)"
grep -q "worker rank 3 has not said hello within 3 s" left.log || die "the silent rank is not named: $(cat left.log)"
grep -q "quench: no worker can run the 6 trials left (2 of 3 workers retired" left.log || die "$(cat left.log)"
guarded 3 "$QUENCH" run job.yaml -o left.h5 --resume --progress plain >resume.log 2>&1 || die "--resume: exit $?: $(cat resume.log)"
grep -q "6 trials, 6 done, 0 failed" resume.log || die "--resume: $(cat resume.log)"
echo "ok"
