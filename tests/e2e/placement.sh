# Heterogeneous placement: `quench validate --cluster` refuses trials that fit no device of the
# cluster, with the reason; the live coordinator gives a worker only trials that fit it, records a
# trial that fits no worker as failed with the reason, and hands out long trials first. Workers'
# devices are faked with the test hooks QUENCH_FAKE_DEVICES / QUENCH_FAKE_DEVICE_MEMORY (docs/cli.md).
source "$(dirname "$0")/lib.sh"

# --- validate ---------------------------------------------------------------------------------
cat >"$WORK/big.yaml" <<'YAML'
name: big
seed: 1
model: {arch: bert, preset: bert-small}
data: {dataset: synthetic-sentiment, train_size: 1000, eval_size: 200, max_len: 512}
train: {epochs: 1, batch_size: 8, lr: 1.0e-4}
stages:
  - name: base
    grid:
      train.batch_size: [8, 512]
    run: [train, eval]
  - name: qat
    from: best(base, accuracy)
    grid:
      quant.name: [fp16, bf16]
      train.lr: [1.0e-4, 2.0e-4]
    run: [qat]
YAML
set +e; "$QUENCH" validate "$WORK/big.yaml" --cluster 16xrtx2080ti >"$WORK/v.out" 2>"$WORK/v.err"; rc=$?; set -e
[[ $rc -eq 2 ]] || die "validate on 16xrtx2080ti: exit $rc, expected 2"
grep -q "^quench: $WORK/big.yaml: stage base, trial 1: needs [0-9.]* GB of device memory; the largest device in the cluster (rtx2080ti) has 11.0 GB$" "$WORK/v.err" \
  || die "validate: no memory refusal for trial 1: $(cat "$WORK/v.err")"
grep -q "^quench: $WORK/big.yaml: stage qat, trial 4 (and 1 more like it): uses bf16, which no device in the cluster offers" "$WORK/v.err" \
  || die "validate: no bf16 refusal: $(cat "$WORK/v.err")"
[[ $(wc -l <"$WORK/v.err") -eq 2 ]] || die "validate: expected one line per stage and reason: $(cat "$WORK/v.err")"
grep -q "^stage" "$WORK/v.out" || die "validate: the plan was not printed"
# With an Ampere-or-newer card big enough in the cluster, everything fits.
"$QUENCH" validate "$WORK/big.yaml" --cluster 16xrtx2080ti,2xh200 >"$WORK/v.out" || die "validate with h200s refused"
grep -q "^devices: every trial fits the cluster 16xrtx2080ti,2xh200$" "$WORK/v.out" || die "validate: no fit line: $(tail -2 "$WORK/v.out")"
# A bad cluster spec is a usage error.
expect_usage_error "validate $WORK/big.yaml --cluster 4xgtx1080"
expect_usage_error "validate $WORK/big.yaml --cluster"
# Without --cluster: this machine's devices (the small jobs of the suite fit anything).
"$QUENCH" validate "$JOBS/tiny.yaml" >"$WORK/v.out" || die "validate on this machine refused tiny.yaml"
grep -q "^devices: every trial fits this machine" "$WORK/v.out" || die "validate: no local fit line"

# --- the live coordinator ----------------------------------------------------------------------
cat >"$WORK/fit.yaml" <<'YAML'
name: fit
seed: 1
model: {arch: mlp, embed_dim: 32, hidden_size: 64}
data: {dataset: synthetic-sentiment, train_size: 512, eval_size: 256, max_len: 16}
train: {epochs: 1, batch_size: 16, lr: 1.0e-3}
stages:
  - name: fit
    grid:
      train.batch_size: [16, 4096, 65536]
      train.lr: [1.0e-3, 2.0e-3]
    run: [train, eval]
  - name: fmt
    grid:
      quant.name: [fp16, bf16]
      train.lr: [1.0e-3, 2.0e-3]
    run: [qat]
YAML
# workers' column and error of each trial, as "id worker status error" lines
table() { HDF5_USE_FILE_LOCKING=FALSE "$PYTHON" -c '
import sys, h5py
t = h5py.File(sys.argv[1], "r")["trials"]
s = lambda v: v.decode() if isinstance(v, bytes) else str(v)
for i in range(int(t.attrs["rows"])):
    print(int(t["id"][i]), int(t["worker"][i]), s(t["status"][i]), s(t["error"][i]))' "$1" | sort -n; }

# Memory: rank 1 reports 2 MB, rank 2 20 MB. Batch 16 fits both, 4096 (about 7 MB) only rank 2,
# 65536 (about 0.1 GB) neither: failed with the reason, without running.
set +e
QUENCH_FAKE_DEVICE_MEMORY=2M,20M mpi 3 "$QUENCH" run "$WORK/fit.yaml" -o "$WORK/mem.h5" --progress plain >"$WORK/mem.log" 2>&1
rc=$?; set -e
[[ $rc -eq 3 ]] || die "memory fit: exit $rc, expected 3 (two trials refused): $(cat "$WORK/mem.log")"
table "$WORK/mem.h5" >"$WORK/mem.txt"
$CHECK "$WORK/mem.h5" --trials 10 --done 8 --failed 2 >/dev/null
for id in 2 3; do grep -q "^$id 2 done" "$WORK/mem.txt" || die "trial $id (7 MB) did not run on rank 2: $(cat "$WORK/mem.txt")"; done
for id in 4 5; do
  grep -q "^$id -1 failed needs [0-9.]* MB of device memory; the largest worker (.*) has 20.0 MB$" "$WORK/mem.txt" \
    || die "trial $id (0.1 GB) was not refused with the reason: $(cat "$WORK/mem.txt")"
done

# bf16: a Turing card (rtx2080ti) does not offer it, an Ada one (l40s) does.
QUENCH_FAKE_DEVICES=rtx2080ti,l40s mpi 3 "$QUENCH" run "$WORK/fit.yaml" -o "$WORK/bf16.h5" --progress plain >"$WORK/bf16.log" 2>&1 \
  || die "bf16 on rtx2080ti+l40s: $(cat "$WORK/bf16.log")"
table "$WORK/bf16.h5" >"$WORK/bf16.txt"
for id in 8 9; do grep -q "^$id 2 done" "$WORK/bf16.txt" || die "bf16 trial $id did not run on the l40s (rank 2): $(cat "$WORK/bf16.txt")"; done
grep -q "NVIDIA L40S" "$WORK/bf16.log" || die "the fake devices were not used: $(cat "$WORK/bf16.log")"
set +e
QUENCH_FAKE_DEVICES=rtx2080ti mpi 3 "$QUENCH" run "$WORK/fit.yaml" -o "$WORK/turing.h5" --progress plain >"$WORK/turing.log" 2>&1
rc=$?; set -e
[[ $rc -eq 3 ]] || die "bf16 on Turing only: exit $rc, expected 3: $(cat "$WORK/turing.log")"
table "$WORK/turing.h5" >"$WORK/turing.txt"
for id in 8 9; do
  grep -q "^$id -1 failed uses bf16, which no worker offers" "$WORK/turing.txt" || die "bf16 trial $id not refused: $(cat "$WORK/turing.txt")"
done
$CHECK "$WORK/turing.h5" --trials 10 --done 8 --failed 2 >/dev/null

# One process checks its own device the same way.
set +e
QUENCH_FAKE_DEVICE_MEMORY=20M "$QUENCH" run "$WORK/fit.yaml" -o "$WORK/alone.h5" --progress plain >"$WORK/alone.log" 2>&1
rc=$?; set -e
[[ $rc -eq 3 ]] || die "one process, 20 MB: exit $rc, expected 3: $(cat "$WORK/alone.log")"
$CHECK "$WORK/alone.h5" --trials 10 --done 8 --failed 2 >/dev/null

# A search stage's drawn points are checked as they are drawn: one that fits only the other worker
# waits for it, one that fits none is refused.
cat >"$WORK/search.yaml" <<'YAML'
name: search
seed: 3
model: {arch: mlp, embed_dim: 32, hidden_size: 64}
data: {dataset: synthetic-sentiment, train_size: 512, eval_size: 64, max_len: 16}
train: {epochs: 1, batch_size: 16, lr: 1.0e-3}
stages:
  - name: rand
    method: random
    trials: 12
    metric: accuracy
    parameters:
      train.batch_size: {values: [16, 4096, 65536]}
    run: [train, eval]
YAML
set +e
QUENCH_FAKE_DEVICE_MEMORY=2M,20M mpi 3 "$QUENCH" run "$WORK/search.yaml" -o "$WORK/search.h5" --progress plain >"$WORK/search.log" 2>&1
rc=$?; set -e
[[ $rc -eq 0 || $rc -eq 3 ]] || die "search: exit $rc: $(cat "$WORK/search.log")"
$CHECK "$WORK/search.h5" --trials 12 >/dev/null
HDF5_USE_FILE_LOCKING=FALSE "$PYTHON" -c '
import sys, h5py
t = h5py.File(sys.argv[1], "r")["trials"]
s = lambda v: v.decode() if isinstance(v, bytes) else str(v)
for i in range(int(t.attrs["rows"])):
    b, w, st, err = int(t["params/train.batch_size"][i]), int(t["worker"][i]), s(t["status"][i]), s(t["error"][i])
    ok = (b == 16 and st == "done") or (b == 4096 and st == "done" and w == 2) or \
         (b == 65536 and st == "failed" and "needs" in err and w == -1)
    if not ok: sys.exit("trial %d: batch %d on worker %d, %s %s" % (int(t["id"][i]), b, w, st, err))' "$WORK/search.h5" \
  || die "search: a drawn point ran where it does not fit: $(cat "$WORK/search.log")"

# Longest first: of 3 one-epoch and 3 six-epoch trials (ids 0-2, 3-5), the six-epoch ones start first.
cat >"$WORK/lpt.yaml" <<'YAML'
name: lpt
seed: 1
model: {arch: mlp, embed_dim: 32, hidden_size: 64}
data: {dataset: synthetic-sentiment, train_size: 2000, eval_size: 256, max_len: 16}
train: {epochs: 1, batch_size: 16, lr: 1.0e-3}
stages:
  - name: lpt
    grid:
      train.epochs: [1, 6]
      train.lr: [1.0e-3, 2.0e-3, 3.0e-3]
    run: [train, eval]
YAML
mpi 3 "$QUENCH" run "$WORK/lpt.yaml" -o "$WORK/lpt.h5" --progress plain >"$WORK/lpt.log" 2>&1 || die "lpt: $(cat "$WORK/lpt.log")"
first=$(HDF5_USE_FILE_LOCKING=FALSE "$PYTHON" -c '
import sys, h5py, numpy as np
t = h5py.File(sys.argv[1], "r")["trials"]
print(" ".join(str(int(i)) for i in t["id"][:][np.argsort(t["start_time"][:], kind="stable")][:2]))' "$WORK/lpt.h5")
for id in $first; do (( id >= 3 )) || die "trial $id (one epoch) started before the six-epoch ones (first: $first)"; done
echo "ok"
