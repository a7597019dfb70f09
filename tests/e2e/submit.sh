# quench submit: the batch script it writes (next to -o, valid bash, the #SBATCH lines asked for),
# values it refuses (exit 2, one line, nothing written), and sbatch missing, refusing or answering.
# A real Slurm (munge, slurmctld, slurmd) is not needed here: stand-in sbatch/srun/scontrol are.
source "$(dirname "$0")/lib.sh"

grep -q "usage: quench submit" <<<"$("$QUENCH" submit --help)" || die "quench submit --help"
JOB="$JOBS/study.yaml"
NAME=$(awk '/^name:/{print $2; exit}' "$JOB")

# --dry-run, default -o: <job name>.h5 in the current directory; the script is printed and written.
mkdir -p "$WORK/here"
(cd "$WORK/here" && "$QUENCH" submit "$JOB" --gpus l40s:4 --time 2-00:00 --partition gpu --account lab_7 --dry-run) >"$WORK/dry.txt"
S="$WORK/here/$NAME.h5.sbatch"
[[ -f $S ]] || die "no script at $S: $(ls "$WORK/here")"
[[ $(head -1 "$WORK/dry.txt") == "$S" ]] || die "dry run did not print the script path first: $(head -1 "$WORK/dry.txt")"
diff <(tail -n +2 "$WORK/dry.txt") "$S" >/dev/null || die "dry run printed something else than the script"
bash -n "$S" || die "generated script is not valid bash"
for line in "#SBATCH --job-name=$NAME" "#SBATCH --gres=gpu:l40s:4" "#SBATCH --ntasks=5" "#SBATCH --nodes=1" \
  "#SBATCH --signal=B:USR1@120" "#SBATCH --requeue" "#SBATCH --open-mode=append" "#SBATCH --time=2-00:00" \
  "#SBATCH --partition=gpu" "#SBATCH --account=lab_7" "#SBATCH --output=$WORK/here/$NAME.h5.%j.out" \
  "#SBATCH --error=$WORK/here/$NAME.h5.%j.err" "quench='$QUENCH'" "job='$JOB'" "results='$WORK/here/$NAME.h5'"; do
  grep -qxF -- "$line" "$S" || die "script lacks '$line'"
done
[[ ! -e $WORK/here/$NAME.h5 ]] || die "a dry run created the results file"

# -o elsewhere (relative): the script goes next to it, with absolute paths; several types: a hetjob.
mkdir -p "$WORK/out"
(cd "$WORK" && "$QUENCH" submit "$JOB" --gpus l40s:2,rtx2080ti:4 -o out/r.h5 --dry-run) >/dev/null
S2="$WORK/out/r.h5.sbatch"
bash -n "$S2" || die "hetjob script is not valid bash"
[[ $(grep -cxF "#SBATCH hetjob" "$S2") -eq 2 ]] || die "expected two hetjob separators"
grep -qxF "#SBATCH --gres=gpu:rtx2080ti:4" "$S2" || die "hetjob lacks the rtx2080ti component"
grep -qF -- "--het-group=0,1,2" "$S2" || die "hetjob step does not span every component"
grep -qxF "results='$WORK/out/r.h5'" "$S2" || die "results path not absolute"

# Refused values: exit 2, one line, no script written.
rm -f "$WORK/x.h5.sbatch"
for bad in "--gpus l40s" "--gpus l40s:0" "--gpus l40s:4,l40s:2" "--gpus l4;0s:1" "--gpus gpu\$x:1" \
  "--gpus l40s:1 --partition a;b" "--gpus l40s:1 --partition a\`id\`" "--gpus l40s:1 --account it's" \
  "--gpus l40s:1 --time 25:61:00" "--gpus l40s:1 --time 1-24" "--gpus l40s:1 --time soon" \
  "--gpus l40s:1 --nodes 0" "--gpus l40s:3 --nodes 2" "--gpus l40s:1,t4:1 --nodes 2" "--gpus l40s:1 --frob" \
  "--partition gpu"; do
  expect_usage_error "submit $JOB $bad -o $WORK/x.h5 --dry-run"
done
for bad in "a'b" 'a$b' 'a`b' 'a\b' 'a"b' 'a b' 'a%jb'; do
  expect_usage_error "submit $JOB --gpus l40s:1 -o $WORK/$bad.h5 --dry-run"
done
set +e; "$QUENCH" submit "$JOB" --gpus l40s:1 -o "$WORK/new
line.h5" --dry-run >/dev/null 2>"$WORK/err"; rc=$?; set -e
[[ $rc -eq 2 && $(wc -l <"$WORK/err") -eq 1 ]] || die "a newline in -o: rc $rc, $(cat "$WORK/err")"
[[ -z $(ls "$WORK" | grep -F sbatch) ]] || die "a refused submission wrote a script: $(ls "$WORK")"
# A bad job is the usual FILE:LINE:COL error.
printf 'name: bad\nstages:\n  - frob: 1\n' >"$WORK/bad.yaml"
set +e; "$QUENCH" submit "$WORK/bad.yaml" --gpus l40s:1 --dry-run 2>"$WORK/err"; rc=$?; set -e
[[ $rc -eq 2 ]] || die "bad job: exit $rc"
grep -qE "^quench: $WORK/bad.yaml:[0-9]+:[0-9]+: " "$WORK/err" || die "bad job: $(cat "$WORK/err")"

# Without --dry-run and without sbatch: one line naming the problem and the script, exit 1.
mkdir -p "$WORK/nobin"
set +e; env PATH="$WORK/nobin" "$QUENCH" submit "$JOB" --gpus l40s:1 -o "$WORK/s.h5" >"$WORK/out.txt" 2>"$WORK/err"; rc=$?; set -e
[[ $rc -eq 1 ]] || die "sbatch missing: exit $rc"
[[ $(wc -l <"$WORK/err") -eq 1 ]] || die "sbatch missing: $(cat "$WORK/err")"
grep -qF "sbatch is not installed" "$WORK/err" && grep -qF "$WORK/s.h5.sbatch" "$WORK/err" || die "sbatch missing: $(cat "$WORK/err")"
[[ -f $WORK/s.h5.sbatch ]] || die "the script was not kept for a later sbatch"

# A stand-in sbatch: quench passes --parsable and the script, prints only the job id.
mkdir -p "$WORK/bin"
cat >"$WORK/bin/sbatch" <<'SH'
#!/bin/bash
printf '%s\n' "$@" >"$FAKE_ARGS"
[[ ${FAKE_FAIL:-0} == 1 ]] && { echo "sbatch: error: Batch job submission failed: Invalid account" >&2; exit 1; }
echo "4242;cluster-a"
SH
chmod +x "$WORK/bin/sbatch"
id=$(FAKE_ARGS="$WORK/args" PATH="$WORK/bin:$PATH" "$QUENCH" submit "$JOB" --gpus l40s:1 -o "$WORK/s.h5")
[[ $id == 4242 ]] || die "printed '$id', expected the job id 4242"
[[ $(cat "$WORK/args") == $'--parsable\n'"$WORK/s.h5.sbatch" ]] || die "sbatch got: $(cat "$WORK/args")"
set +e; FAKE_FAIL=1 FAKE_ARGS="$WORK/args" PATH="$WORK/bin:$PATH" "$QUENCH" submit "$JOB" --gpus l40s:1 -o "$WORK/s.h5" 2>"$WORK/err"; rc=$?; set -e
[[ $rc -eq 1 ]] || die "sbatch refusing: exit $rc"
grep -qF "Invalid account" "$WORK/err" && grep -qF "sbatch refused the job" "$WORK/err" || die "sbatch refusing: $(cat "$WORK/err")"

# The script itself, with a stand-in srun that runs the command alone: the first run starts the
# results file, a second (a requeue) resumes it.
cat >"$WORK/bin/srun" <<'SH'
#!/bin/bash
while [[ $1 == -* ]]; do shift; done
exec "$@"
SH
chmod +x "$WORK/bin/srun"
(cd "$WORK" && SLURM_JOB_ID=7 PATH="$WORK/bin:$PATH" bash "$WORK/s.h5.sbatch" >"$WORK/run1.log" 2>&1) || true
[[ -f $WORK/s.h5 ]] || die "the script did not run the study: $(cat "$WORK/run1.log")"
(cd "$WORK" && SLURM_JOB_ID=7 PATH="$WORK/bin:$PATH" bash "$WORK/s.h5.sbatch" >"$WORK/run2.log" 2>&1) || true
grep -q "resuming: " "$WORK/run2.log" || die "the second run did not resume: $(cat "$WORK/run2.log")"

# Time limit: USR1 to the batch shell reaches the step; the study did not finish, so the job requeues
# itself (stand-ins: an srun that waits for USR1, an scontrol that records its arguments).
mkdir -p "$WORK/bin2"
cat >"$WORK/bin2/srun" <<'SH'
#!/bin/bash
trap 'echo usr1 >"$FAKE_MARK"; exit 138' USR1
echo started >"$FAKE_MARK"
while :; do sleep 0.1; done
SH
printf '#!/bin/bash\necho "$@" >"$FAKE_ARGS"\n' >"$WORK/bin2/scontrol"
chmod +x "$WORK/bin2/srun" "$WORK/bin2/scontrol"
export FAKE_MARK="$WORK/mark" FAKE_ARGS="$WORK/scontrol-args"
SLURM_JOB_ID=7 PATH="$WORK/bin2:$PATH" bash "$WORK/s.h5.sbatch" >"$WORK/run3.log" 2>&1 &
shell=$!
for _ in $(seq 100); do [[ -s $FAKE_MARK ]] && break; sleep 0.1; done
[[ $(cat "$FAKE_MARK" 2>/dev/null) == started ]] || die "the stand-in srun did not start: $(cat "$WORK/run3.log")"
kill -USR1 "$shell"
set +e; timeout 20 tail --pid="$shell" -f /dev/null; wait "$shell"; rc=$?; set -e
[[ $rc -eq 138 ]] || die "the script exited $rc after USR1, expected the step's 138"
[[ $(cat "$FAKE_MARK") == usr1 ]] || die "USR1 was not forwarded to the step"
[[ $(cat "$FAKE_ARGS" 2>/dev/null) == "requeue 7" ]] || die "the job did not requeue itself: $(cat "$FAKE_ARGS" 2>/dev/null)"
echo "submit: ok"
