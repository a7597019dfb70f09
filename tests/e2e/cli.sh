# The command line: help for every subcommand, bad flags and inputs give one-line errors and exit 2,
# an existing results file is never touched without --resume, a changed job is refused on --resume.
source "$(dirname "$0")/lib.sh"

grep -q "usage: quench" <<<"$("$QUENCH" --help)" || die "quench --help"
"$QUENCH" --version | grep -Eq "^quench [0-9]+\.[0-9]+\.[0-9]+$" || die "quench --version"
for cmd in run validate ls export quantize devices; do
  grep -q "usage: quench $cmd" <<<"$("$QUENCH" $cmd --help)" || die "quench $cmd --help"
done
# Only working subcommands are listed.
listed=$("$QUENCH" --help | awk '/^commands:/{on=1;next} /^$/{on=0} on && /^  [a-z]/{print $1}')
for cmd in $listed; do "$QUENCH" $cmd --help >/dev/null || die "listed command $cmd does not work"; done

check_err() { # rc, expected message substring, command...
  local want=$1 msg=$2; shift 2
  set +e; "$@" >"$WORK/out.txt" 2>"$WORK/err.txt"; local rc=$?; set -e
  [[ $rc -eq $want ]] || die "'$*' exited $rc, expected $want: $(cat "$WORK/err.txt")"
  grep -qF -- "$msg" "$WORK/err.txt" || die "'$*' said '$(cat "$WORK/err.txt")', expected '$msg'"
  [[ $(wc -l <"$WORK/err.txt") -eq 1 ]] || die "'$*' printed more than one error line: $(cat "$WORK/err.txt")"
}
check_err 2 "unknown command 'frobnicate'" "$QUENCH" frobnicate
check_err 2 "unknown option '--frob'" "$QUENCH" run "$JOBS/study.yaml" -o "$WORK/x.h5" --frob
check_err 2 "missing -o FILE" "$QUENCH" run "$JOBS/study.yaml"
check_err 2 "missing the job file" "$QUENCH" validate
check_err 2 "--retry-failed needs --resume" "$QUENCH" run "$JOBS/study.yaml" -o "$WORK/x.h5" --retry-failed
check_err 2 "say which format: --csv" "$QUENCH" export "$WORK/x.h5"
check_err 2 "$WORK/nope.yaml" "$QUENCH" validate "$WORK/nope.yaml"
check_err 2 "$WORK/nope.h5" "$QUENCH" ls "$WORK/nope.h5"
echo "not hdf5" >"$WORK/junk.h5"
check_err 2 "$WORK/junk.h5" "$QUENCH" ls "$WORK/junk.h5"
check_err 2 "$WORK/junk.h5" "$QUENCH" export "$WORK/junk.h5" --csv
[[ ! -e $WORK/x.h5 ]] || die "a refused run created its output"

# validate prints stages and trial counts; every example job validates.
"$QUENCH" validate "$JOBS/study.yaml" >"$WORK/plan.txt"
grep -q "baseline" "$WORK/plan.txt" && grep -q "sweep" "$WORK/plan.txt" && grep -q "11" "$WORK/plan.txt" \
  || die "validate output lacks stages or counts: $(cat "$WORK/plan.txt")"
# The IMDb variants need data/aclImdb and models/bert-tiny where quench starts: without them the
# error says which path; with a stand-in of each they validate.
mkdir -p "$WORK/ex"
expect_rc 2 bash -c "cd '$WORK/ex' && '$QUENCH' validate '$SRC/jobs/examples/lab1-ptq-qat-imdb.yaml'" 2>"$WORK/err"
grep -q "models/bert-tiny/config.json is not readable" "$WORK/err" || die "imdb example without files: $(cat "$WORK/err")"
for s in train test; do for l in pos neg; do mkdir -p "$WORK/ex/data/aclImdb/$s/$l" && echo "a film" >"$WORK/ex/data/aclImdb/$s/$l/0_1.txt"; done; done
mkdir -p "$WORK/ex/models/bert-tiny"
"$PYTHON" "$SRC/tests/e2e/tiny_bert.py" "$WORK/ex/models/bert-tiny" --vocab-size 20 --vocab a film
for job in "$SRC"/jobs/examples/*.yaml; do
  [[ $job == */llm-quant-bench.yaml ]] && continue # language models: validated by llm_study.sh
  (cd "$WORK/ex" && "$QUENCH" validate "$job" >/dev/null) || die "example $job does not validate"
done

# A finished study; running onto it without --resume is refused and changes nothing.
expect_rc 3 "$QUENCH" run "$JOBS/study.yaml" -o "$WORK/s.h5" --progress quiet
sum=$(md5sum <"$WORK/s.h5")
check_err 2 "use --resume" "$QUENCH" run "$JOBS/study.yaml" -o "$WORK/s.h5"
[[ $(md5sum <"$WORK/s.h5") == "$sum" ]] || die "a refused run changed the file"
# --resume of a finished study runs nothing and keeps the verdict.
"$QUENCH" run "$JOBS/study.yaml" -o "$WORK/s.h5" --resume --progress plain >"$WORK/r.log" && die "resume of a study with a failed trial exited 0"
grep -q "resuming: 11 of 11" "$WORK/r.log" || die "resume of a finished study: $(cat "$WORK/r.log")"
# A job whose trials changed is refused on --resume, naming what changed.
sum=$(md5sum <"$WORK/s.h5")
sed 's/quant.width: \[4, 8\]/quant.width: [4, 6]/' "$JOBS/study.yaml" >"$WORK/changed.yaml"
check_err 2 "different plan" "$QUENCH" run "$WORK/changed.yaml" -o "$WORK/s.h5" --resume
[[ $(md5sum <"$WORK/s.h5") == "$sum" ]] || die "a refused resume changed the file"
# A comment does not change the plan.
{ echo "# a comment"; cat "$JOBS/study.yaml"; } >"$WORK/commented.yaml"
expect_rc 3 "$QUENCH" run "$WORK/commented.yaml" -o "$WORK/s.h5" --resume --progress quiet
# --retry-failed reruns the failed trial (it fails again, the same way) without adding rows.
expect_rc 3 "$QUENCH" run "$JOBS/study.yaml" -o "$WORK/s.h5" --resume --retry-failed --progress plain
$CHECK "$WORK/s.h5" --trials 11 --done 10 --failed 1 >/dev/null

# export --csv: a header and one row per trial.
"$QUENCH" export "$WORK/s.h5" --csv >"$WORK/t.csv"
[[ $(wc -l <"$WORK/t.csv") -eq 12 ]] || die "export wrote $(wc -l <"$WORK/t.csv") lines, expected 12"
head -1 "$WORK/t.csv" | grep -q "metrics/qat_accuracy" || die "export header lacks metrics/qat_accuracy"
grep -q "failed" <<<"$("$QUENCH" ls "$WORK/s.h5")" || die "ls does not show the failed trial"
grep -q "cpu" <<<"$("$QUENCH" devices --no-bench)" || die "devices lists no cpu"
echo "ok"
