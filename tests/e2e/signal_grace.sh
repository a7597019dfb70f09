# Stop signals (quench run --help): SIGUSR1, Slurm's warning before the time limit, stops dispatch;
# the trials running then finish and are recorded within the grace period (exit 138), and --resume
# runs the rest, each trial exactly once. Past --grace the running trials are abandoned, unrecorded,
# and --resume runs them. One process: the same, and a second signal stops at once.
source "$(dirname "$0")/lib.sh"

rows() { HDF5_USE_FILE_LOCKING=FALSE "$PYTHON" -c '
import sys, h5py
try:
    print(int(h5py.File(sys.argv[1], "r")["trials"].attrs["rows"]))
except Exception:
    print(0)' "$1"; }
# A job of N null trials that sleep MS each.
sleepy() { cat >"$WORK/$1.yaml" <<YAML
name: sleepy-$1
seed: 1
model: {arch: null}
debug: {sleep_ms: $3}
stages:
  - name: s
    grid:
      train.lr: [$(seq -s, 1 "$2" | sed 's/,/e-3,/g')e-3]
    run: [train, eval]
YAML
}
# Start a run in the background (pid in $run), wait until its log matches $2.
start() { local log=$1 pattern=$2; shift 2
  "$@" >"$log" 2>&1 & run=$!
  for _ in $(seq 1 300); do grep -q -- "$pattern" "$log" && return 0; kill -0 $run 2>/dev/null || break; sleep 0.1; done
  die "the run did not reach '$pattern': $(cat "$log")"
}
finish() { set +e; wait $run; rc=$?; set -e; }

expect_usage_error "run $JOBS/tiny.yaml -o $WORK/x.h5 --grace -1"
expect_usage_error "run $JOBS/tiny.yaml -o $WORK/x.h5 --grace soon"
expect_usage_error "run $JOBS/tiny.yaml -o $WORK/x.h5 --grace"

# 1. USR1 under mpirun (it forwards USR1 to every rank; workers ignore it): the two trials running
#    at the signal finish and are recorded, nothing new starts; --resume runs the rest.
sleepy usr1 8 1500
out="$WORK/usr1.h5"
start "$WORK/usr1.log" "^\[2/8\]" "$MPIEXEC" --oversubscribe -np 3 "$QUENCH" run "$WORK/usr1.yaml" -o "$out" --progress plain
kill -USR1 $run
finish
[[ $rc -eq 138 ]] || die "USR1: exit $rc, expected 138: $(cat "$WORK/usr1.log")"
# (2 running, unless the signal beat the dispatch that follows the second result)
running=$(sed -n 's/^SIGUSR1 (time limit near): no new trials; \([12]\) running may finish within 100 s.*/\1/p' "$WORK/usr1.log")
[[ -n $running ]] || die "USR1: no stop note naming the running trials: $(cat "$WORK/usr1.log")"
grep -q "finish with  quench run" "$WORK/usr1.log" || die "USR1: no resume hint"
grep -q "abandoned" "$WORK/usr1.log" && die "USR1: trials abandoned within the grace period: $(cat "$WORK/usr1.log")"
recorded=$((2 + running))
[[ $(rows "$out") -eq $recorded ]] || die "USR1: $(rows "$out") trials recorded, expected $recorded (2 before, $running running at the signal)"
"$QUENCH" run "$WORK/usr1.yaml" -o "$out" --resume --progress plain >"$WORK/usr1-resume.log" || die "resume after USR1 failed"
grep -q "resuming: $recorded of 8" "$WORK/usr1-resume.log" || die "resume did not find $recorded trials: $(head -3 "$WORK/usr1-resume.log")"
$CHECK "$out" --trials 8 --done 8 --failed 0 >/dev/null

# 2. The grace period runs out: the running trials are abandoned (not recorded), the run ends soon
#    after the deadline (workers stop their trials on STOP), and --resume runs them.
sleepy grace 2 10000
out="$WORK/grace.h5"
start "$WORK/grace.log" "^study sleepy-grace" "$MPIEXEC" --oversubscribe -np 3 "$QUENCH" run "$WORK/grace.yaml" -o "$out" --progress plain --grace 1
sleep 4 # both trials running (the workers say hello within a second or two)
t0=$(date +%s)
kill -USR1 $run
finish
(( $(date +%s) - t0 <= 5 )) || die "grace 1: the run took $(( $(date +%s) - t0 )) s to stop"
[[ $rc -eq 138 ]] || die "grace 1: exit $rc, expected 138: $(cat "$WORK/grace.log")"
grep -q "grace period over: abandoned [12] running trial" "$WORK/grace.log" || die "grace 1: no abandon note: $(cat "$WORK/grace.log")"
[[ $(rows "$out") -eq 0 ]] || die "grace 1: abandoned trials were recorded"
mpi 3 "$QUENCH" run "$WORK/grace.yaml" -o "$out" --resume --progress plain >"$WORK/grace-resume.log" \
  || die "resume after the grace period failed: $(cat "$WORK/grace-resume.log")"
$CHECK "$out" --trials 2 --done 2 --failed 0 >/dev/null

# 3. One process: SIGTERM lets the running trial finish (default grace 20 s); USR1 with --grace 0.5
#    abandons it; a second signal stops at once.
sleepy one 3 1500
out="$WORK/one.h5"
start "$WORK/term.log" "^study sleepy-one" "$QUENCH" run "$WORK/one.yaml" -o "$out" --progress plain
sleep 0.5
kill -TERM $run
finish
[[ $rc -eq 143 ]] || die "TERM: exit $rc, expected 143: $(cat "$WORK/term.log")"
[[ $(rows "$out") -eq 1 ]] || die "TERM: $(rows "$out") trials recorded, expected the one running"
sleepy slow 3 20000
start "$WORK/alone.log" "^study sleepy-slow" "$QUENCH" run "$WORK/slow.yaml" -o "$WORK/slow.h5" --progress plain --grace 0.5
sleep 0.5
kill -USR1 $run
finish
[[ $rc -eq 138 ]] || die "USR1 alone: exit $rc, expected 138: $(cat "$WORK/alone.log")"
grep -q "abandoned running trial 0" "$WORK/alone.log" || die "USR1 alone: trial 0 not abandoned: $(cat "$WORK/alone.log")"
[[ $(rows "$WORK/slow.h5") -eq 0 ]] || die "USR1 alone: the abandoned trial was recorded"
start "$WORK/twice.log" "^study sleepy-slow" "$QUENCH" run "$WORK/slow.yaml" -o "$WORK/slow.h5" --resume --progress plain
sleep 0.5
t0=$(date +%s)
kill -INT $run
sleep 0.5
grep -q "interrupted: no new trials; waiting for 1 running" "$WORK/twice.log" || die "INT: no stop note: $(cat "$WORK/twice.log")"
kill -TERM $run
finish
[[ $rc -eq 130 ]] || die "INT then TERM: exit $rc, expected 130 (the first signal's): $(cat "$WORK/twice.log")"
(( $(date +%s) - t0 <= 3 )) || die "a second signal did not stop at once"
[[ $(rows "$WORK/slow.h5") -eq 0 ]] || die "the trial stopped by a second signal was recorded"
"$QUENCH" run "$WORK/one.yaml" -o "$out" --resume --progress quiet >/dev/null || die "resume after TERM failed"
$CHECK "$out" --trials 3 --done 3 --failed 0 >/dev/null
echo "ok"
