# SIGINT stops a study cleanly (running trials finish and are recorded; exit 130) and --resume
# finishes it; more workers than trials; a single rank under mpirun runs the trials itself.
source "$(dirname "$0")/lib.sh"

out="$WORK/int.h5"
"$QUENCH" run "$JOBS/long.yaml" -o "$out" --progress plain >"$WORK/int.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do grep -q "^\[ *2/19\]" "$WORK/int.log" && break; sleep 0.1; done
kill -INT "$pid"
set +e; wait "$pid"; rc=$?; set -e
[[ $rc -eq 130 ]] || die "SIGINT: exit $rc, expected 130: $(tail -5 "$WORK/int.log")"
grep -q "finish with  quench run" "$WORK/int.log" || die "no resume hint after SIGINT"
"$QUENCH" run "$JOBS/long.yaml" -o "$out" --resume --progress quiet || die "resume after SIGINT failed"
$CHECK "$out" --trials 19 --done 19 >/dev/null

mpi 6 "$QUENCH" run "$JOBS/tiny.yaml" -o "$WORK/tiny6.h5" --progress plain >"$WORK/tiny.log" || die "6 ranks, 2 trials: $(cat "$WORK/tiny.log")"
$CHECK "$WORK/tiny6.h5" --trials 2 --done 2 >/dev/null
mpi 1 "$QUENCH" run "$JOBS/tiny.yaml" -o "$WORK/tiny1.h5" --progress plain >/dev/null || die "1 rank under mpirun"
$CHECK "$WORK/tiny1.h5" --trials 2 --done 2 >/dev/null
echo "ok"
