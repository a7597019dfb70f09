#!/usr/bin/env bash
# make demo: lab 1 on bert-tiny and the built-in synthetic data, with mpirun on 3 ranks (a
# coordinator and two workers): task 1 (PTQ and QAT over integer widths), task 2 (pruning the best
# QAT model), then the figures. The demo's results files are its own: they are replaced on every run
# (a real study is never overwritten: quench refuses an existing -o without --resume).
set -euo pipefail
quench=${1:-build/quench}
jobs=(lab1-ptq-qat lab1-prune)

mkdir -p demo
mpirun_flags=(--oversubscribe)
[[ $(id -u) -eq 0 ]] && mpirun_flags+=(--allow-run-as-root)

start=$(date +%s)
rc=0
for name in "${jobs[@]}"; do
  job=jobs/examples/$name.yaml
  out=demo/$name.h5
  rm -f "$out"
  echo "== quench validate $job"
  "$quench" validate "$job"
  echo
  echo "== mpirun -np 3 quench run $job -o $out"
  set +e
  mpirun "${mpirun_flags[@]}" -np 3 "$quench" run "$job" -o "$out"
  job_rc=$?
  set -e
  [[ $job_rc -eq 0 ]] || rc=$job_rc
  echo
done
for name in "${jobs[@]}"; do
  [[ -f demo/$name.h5 ]] && "$quench" report "demo/$name.h5" -o "demo/$name-report" || true
done
echo
echo "demo finished in $(( $(date +%s) - start ))s (exit code $rc)"
echo
echo "The results are in demo/lab1-ptq-qat.h5 and demo/lab1-prune.h5; the figures in"
echo "demo/lab1-ptq-qat-report/index.html and demo/lab1-prune-report/index.html. To look at them:"
echo "  $quench ls demo/lab1-ptq-qat.h5            # status, best trial per stage, table of trials"
echo "  $quench export demo/lab1-prune.h5 --csv > trials.csv"
echo "  h5ls -r demo/lab1-ptq-qat.h5                  # the HDF5 layout (docs/results-format.md)"
echo "  PYTHONPATH=analysis /usr/bin/python3 -c 'from quench_results import load_trials; \\"
echo "      print(load_trials(\"demo/lab1-ptq-qat.h5\")[[\"id\", \"stage\", \"params/quant.width\", \"metrics/ptq_accuracy\", \"metrics/qat_accuracy\"]])'"
exit $rc
