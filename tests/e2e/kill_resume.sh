# kill -9 of the whole mpirun in the middle of a study, then --resume: every trial ends up in the
# file exactly once, done, with the same metrics as an uninterrupted run. `quench ls` reads the
# file while the run writes it.
source "$(dirname "$0")/lib.sh"

count_rows() { HDF5_USE_FILE_LOCKING=FALSE "$PYTHON" -c '
import sys, h5py
try:
    print(int(h5py.File(sys.argv[1], "r")["trials"].attrs["rows"]))
except Exception:
    print(0)' "$1"; }

for kill_at in 3 9; do
  out="$WORK/killed-$kill_at.h5"
  setsid "$MPIEXEC" --oversubscribe -np 3 "$QUENCH" run "$JOBS/long.yaml" -o "$out" --progress plain >"$WORK/run.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    [[ -f $out ]] && (( $(count_rows "$out") >= kill_at )) && break
    kill -0 "$pid" 2>/dev/null || die "the run ended before it could be killed: $(cat "$WORK/run.log")"
    sleep 0.1
  done
  # ls works on the file while it is being written.
  "$QUENCH" ls "$out" >"$WORK/ls.txt" || die "quench ls failed on a file being written: $(cat "$WORK/ls.txt")"
  grep -q "baseline" "$WORK/ls.txt" || die "quench ls output lacks the baseline stage"
  kill -9 -- "-$pid" 2>/dev/null || true
  pkill -9 -f "quench run $JOBS/long.yaml -o $out" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rows=$(count_rows "$out")
  (( rows >= kill_at && rows < 19 )) || die "killed at $rows rows: not in the middle"
  echo "killed with $rows of 19 trials recorded"

  # Without --resume the file is refused and left as it is.
  sum=$(md5sum <"$out")
  expect_rc 2 "$QUENCH" run "$JOBS/long.yaml" -o "$out"
  [[ $(md5sum <"$out") == "$sum" ]] || die "a refused run changed the file"

  mpi 3 "$QUENCH" run "$JOBS/long.yaml" -o "$out" --resume --progress plain >"$WORK/resume.log" 2>&1 \
    || die "resume failed: $(cat "$WORK/resume.log")"
  grep -q "resuming: $rows of 19" "$WORK/resume.log" || die "resume did not report what it found: $(head -3 "$WORK/resume.log")"
  $CHECK "$out" --trials 19 --done 19 --failed 0 --dump-csv "$WORK/resumed-$kill_at.csv"
done

"$QUENCH" run "$JOBS/long.yaml" -o "$WORK/clean.h5" --progress quiet >/dev/null
$CHECK "$WORK/clean.h5" --trials 19 --done 19 --dump-csv "$WORK/clean.csv" >/dev/null
for kill_at in 3 9; do
  diff "$WORK/clean.csv" "$WORK/resumed-$kill_at.csv" || die "the resumed study differs from an uninterrupted one"
done
echo "ok"
