# kill -9 of everything (the mpirun process group and every quench process of the run) at 20
# random instants of one study, each followed by --resume with 3 ranks, until the study completes:
# every trial is in the file exactly once, done, with the parameters and metrics of an uninterrupted
# run, and the file reads. Null trials that sleep 10-30 ms make most of the study; a small real stage
# with checkpoints (and a from: stage on it) puts kills into checkpoint writes too. The instants are
# seeded: KILL9_SEED=N reproduces a run (the seed is printed).
source "$(dirname "$0")/lib.sh"

JOB="$JOBS/kill9.yaml"
out="$WORK/k.h5"
seed=${KILL9_SEED:-$(( $(date +%s) % 100000 ))}
echo "kill9_random: seed $seed (KILL9_SEED=$seed reproduces the instants)"
RANDOM=$seed

rows_of() { HDF5_USE_FILE_LOCKING=FALSE "$PYTHON" -c '
import sys, h5py
try:
    print(int(h5py.File(sys.argv[1], "r")["trials"].attrs["rows"]))
except Exception:
    print(0)' "$1"; }

# every process of this run: the session of its mpirun, and any quench naming the results file
kill_all() {
  kill -9 -- "-$1" 2>/dev/null || true
  local p
  for p in $(pgrep -f -- "-o $out" || true); do kill -9 "$p" 2>/dev/null || true; done
  wait "$1" 2>/dev/null || true
  for _ in $(seq 1 50); do pgrep -f -- "-o $out" >/dev/null || return 0; sleep 0.1; done
  die "processes of the killed run are still alive: $(pgrep -af -- "-o $out")"
}

kills=0 completed=0 resume=""
for round in $(seq 1 20); do
  # the instant: 0.3 to 1.8 s after launch (MPI start-up takes about half a second of it)
  delay_ms=$(( 300 + RANDOM % 1500 ))
  setsid "$MPIEXEC" --oversubscribe -np 3 "$QUENCH" run "$JOB" -o "$out" $resume --progress quiet \
    >"$WORK/run-$round.log" 2>&1 &
  pid=$!
  if [[ -z $resume ]]; then
    # the first run's instant counts from the file's creation: MPI start-up takes as long as the
    # machine's load makes it, and a kill before the file exists would test nothing
    for _ in $(seq 1 600); do [[ -f $out ]] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    delay_ms=$(( RANDOM % 1500 ))
  fi
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" && { completed=1; echo "round $round: the study completed before its kill"; break; }
    die "round $round: the run failed: $(tail -5 "$WORK/run-$round.log")"
  fi
  kill_all "$pid"
  kills=$((kills + 1))
  [[ -f $out ]] || die "round $round: killed after ${delay_ms} ms with no results file"
  echo "round $round: killed after ${delay_ms} ms, $(rows_of "$out") trials in the file"
  resume="--resume"
done
if (( !completed )); then
  mpi 3 "$QUENCH" run "$JOB" -o "$out" --resume --progress quiet >"$WORK/final.log" 2>&1 \
    || die "the final resume failed: $(tail -5 "$WORK/final.log")"
fi
(( kills >= 10 )) || die "only $kills kills landed before the study completed"
[[ ! -e $out.quench-journal ]] || die "the journal outlived the completed study"

ntrials=$("$QUENCH" validate "$JOB" | sed -n 's/.*stages, \([0-9]*\) trials.*/\1/p')
$CHECK "$out" --trials "$ntrials" --done "$ntrials" --failed 0 --dump-csv "$WORK/killed.csv" \
  || die "the killed-and-resumed file is wrong"
"$QUENCH" ls "$out" >/dev/null || die "quench ls cannot read the file"

# the same trials, parameters and metrics as a run never killed
mpi 3 "$QUENCH" run "$JOB" -o "$WORK/clean.h5" --progress quiet >/dev/null 2>&1 || die "the clean run failed"
$CHECK "$WORK/clean.h5" --trials "$ntrials" --done "$ntrials" --dump-csv "$WORK/clean.csv" >/dev/null
diff "$WORK/clean.csv" "$WORK/killed.csv" >"$WORK/diff.txt" || die "the resumed study differs from an uninterrupted one: $(head -5 "$WORK/diff.txt")"
echo "kill9_random: ok ($kills kills, seed $seed)"
