#!/usr/bin/env bash
# make demo: lab 1 (PTQ and QAT over integer widths) with mpirun, 3 ranks (a coordinator and two
# workers), on the built-in synthetic data. The demo's results file is its own: it is replaced on
# every run (a real study is never overwritten: quench refuses an existing -o without --resume).
set -euo pipefail
quench=${1:-build/quench}
job=jobs/examples/lab1-ptq-qat.yaml
out=demo/lab1-ptq-qat.h5

mkdir -p demo
rm -f "$out"
mpirun_flags=(--oversubscribe)
[[ $(id -u) -eq 0 ]] && mpirun_flags+=(--allow-run-as-root)

echo "== quench validate $job"
"$quench" validate "$job"
echo
echo "== mpirun -np 3 quench run $job -o $out"
start=$(date +%s)
set +e
mpirun "${mpirun_flags[@]}" -np 3 "$quench" run "$job" -o "$out"
rc=$?
set -e
echo
echo "demo finished in $(( $(date +%s) - start ))s (exit code $rc)"
echo
echo "The results are in $out. To look at them:"
echo "  $quench ls $out                       # status, best trial per stage, table of trials"
echo "  $quench export $out --csv > trials.csv"
echo "  h5ls -r $out                               # the HDF5 layout (docs/results-format.md)"
echo "  PYTHONPATH=analysis /usr/bin/python3 -c 'from quench_results import load_trials; \\"
echo "      print(load_trials(\"$out\")[[\"id\", \"stage\", \"params/quant.width\", \"metrics/qat_accuracy\"]])'"
exit $rc
