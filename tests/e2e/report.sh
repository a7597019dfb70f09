# quench report on a finished study: index.html and the figures the study's parameters call for,
# valid PNGs; a missing file is a one-line error with exit code 2.
source "$(dirname "$0")/lib.sh"

expect_rc 3 "$QUENCH" run "$JOBS/study.yaml" -o "$WORK/s.h5" --progress quiet
"$QUENCH" report "$WORK/s.h5" -o "$WORK/rep" >"$WORK/report.log" || die "report failed: $(cat "$WORK/report.log")"
for f in index.html accuracy_vs_width.png accuracy_vs_sparsity.png train_loss.png; do
  [[ -s $WORK/rep/$f ]] || die "report lacks $f"
done
for f in "$WORK"/rep/*.png; do
  [[ $(head -c 8 "$f" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || die "$f is not a PNG"
done
grep -q "Best trial of each stage" "$WORK/rep/index.html" || die "index.html lacks the best trials"
grep -q "sweep" "$WORK/rep/index.html" || die "index.html lacks the sweep stage"
expect_rc 2 "$QUENCH" report "$WORK/missing.h5"
echo ok
