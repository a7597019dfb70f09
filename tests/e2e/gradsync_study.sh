# Data-parallel trials (docs/gradsync.md): under mpirun with 4 workers, a trial with train.devices: k
# is trained by k workers at once and records the metrics of the same trial on one worker, within
# float tolerance (accuracy equal, losses within 1e-4 relative), each trial once; k above the number
# of workers of a kind uses them all, with one note. One member crashing or hanging fails the trial on every
# member (no hang), the study goes on; a signal's stop ends group trials too, leaving no process.
source "$(dirname "$0")/lib.sh"

variant() { # name, model line, devices
  sed -e "s/^model: .*/model: $2/" -e "s/devices: 1}/devices: $3}/" "$JOBS/gradsync.yaml" >"$WORK/$1.yaml"
}

# Metrics and train-loss curves of $1 (devices 1) and $2 agree; with k > 1 the curve is not bit for
# bit the one-worker curve (the sums run in another order), so the data-parallel path really ran.
compare() { HDF5_USE_FILE_LOCKING=FALSE "$PYTHON" - "$1" "$2" "$3" <<'PY'
import sys, h5py, numpy as np
def load(path):
    f = h5py.File(path, "r")
    t = f["trials"]
    ids = [int(i) for i in t["id"][:]]
    if sorted(ids) != list(range(3)):
        sys.exit("%s: trial ids %s, expected each of 0..2 once" % (path, ids))
    out = {}
    for row, i in enumerate(ids):
        st = t["status"][row]
        st = st.decode() if isinstance(st, bytes) else str(st)
        if st != "done":
            sys.exit("%s: trial %d is %s" % (path, i, st))
        m = {k: float(t["metrics"][k][row]) for k in t["metrics"].keys()}
        out[i] = (m, f["trial"][str(i)]["train_loss"][:])
    return out
one, many, k = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3])
differs = False
for i in one:
    (m1, c1), (mk, ck) = one[i], many[i]
    if m1["accuracy"] != mk["accuracy"]:
        sys.exit("trial %d: accuracy %g with 1 worker, %g with %d" % (i, m1["accuracy"], mk["accuracy"], k))
    for name in ("train_loss", "eval_loss"):
        if abs(m1[name] - mk[name]) > 1e-4 * abs(m1[name]):
            sys.exit("trial %d: %s %.9g with 1 worker, %.9g with %d" % (i, name, m1[name], mk[name], k))
    if len(c1) != len(ck) or np.max(np.abs(c1 - ck) / np.abs(c1)) > 1e-4:
        sys.exit("trial %d: the train-loss curves differ beyond 1e-4 relative (k=%d)" % (i, k))
    differs |= not np.array_equal(c1, ck)
if not differs:
    sys.exit("k=%d: every curve equals the one-worker run bit for bit: the trials did not train data-parallel" % k)
print("devices %d: metrics agree with one worker" % k)
PY
}

for arch in mlp bert; do
  [[ $arch == mlp ]] && model="{arch: mlp, hidden_size: 16}" \
                     || model="{arch: bert, hidden_size: 16, layers: 1, heads: 2, intermediate_size: 32}"
  ks="2 4 8"
  [[ $arch == bert ]] && ks="4"
  for k in 1 $ks; do
    variant "$arch$k" "$model" "$k"
    mpi 5 "$QUENCH" run "$WORK/$arch$k.yaml" -o "$WORK/$arch$k.h5" --progress plain >"$WORK/$arch$k.log" 2>&1 \
      || die "$arch, devices $k: $(cat "$WORK/$arch$k.log")"
    [[ $k -eq 1 ]] || compare "$WORK/${arch}1.h5" "$WORK/$arch$k.h5" "$k"
  done
done
[[ $(grep -c "asks for train.devices: 8, but its kind of worker .* has 4" "$WORK/mlp8.log") -eq 1 ]] \
  || die "devices 8 on 4 workers: expected one note: $(cat "$WORK/mlp8.log")"
grep -q "asks for train.devices" "$WORK/mlp4.log" && die "devices 4 on 4 workers: an unexpected note"

# Two kinds of worker (faked: the trials still run on this CPU), two of each: a group takes workers
# of one kind only, so devices 4 trains on 2 and says so once; the trials still agree.
QUENCH_FAKE_DEVICES=rtx2080ti,l40s mpi 5 "$QUENCH" run "$WORK/mlp4.yaml" -o "$WORK/kinds.h5" --progress plain \
  >"$WORK/kinds.log" 2>&1 || die "two kinds: $(cat "$WORK/kinds.log")"
[[ $(grep -c "asks for train.devices: 4, but its kind of worker (NVIDIA .*) has 2" "$WORK/kinds.log") -eq 1 ]] \
  || die "two kinds: expected one note: $(cat "$WORK/kinds.log")"
compare "$WORK/mlp1.h5" "$WORK/kinds.h5" 2

# One member of each group crashes, hangs past trial_timeout or diverges (the test hook
# QUENCH_GROUP_FAULT_RANK keeps debug.fault to group rank 1): the trial fails on its leader, naming the
# member, the member's own reason is printed, the good trial and the stage after it are done.
cat >"$WORK/faults.yaml" <<'YAML'
name: e2e-gradsync-faults
seed: 3
model: {arch: mlp, embed_dim: 8, hidden_size: 8}
data: {dataset: synthetic-sentiment, train_size: 203, eval_size: 100, max_len: 16}
train: {epochs: 2, batch_size: 10, lr: 3.0e-3, devices: 2}
trial_timeout: 2s
stages:
  - name: faults
    grid:
      debug.fault: [none, segv, hang, nan]
    run: [train, eval]
  - name: after
    from: best(faults, accuracy)
    grid:
      train.lr: [1.0e-3, 2.0e-3]
    run: [train, eval]
YAML
export QUENCH_GROUP_FAULT_RANK=1
expect_rc 3 mpi 5 "$QUENCH" run "$WORK/faults.yaml" -o "$WORK/faults.h5" --progress plain >"$WORK/faults.log" 2>&1
HDF5_USE_FILE_LOCKING=FALSE "$PYTHON" - "$WORK/faults.h5" <<'PY' || die "faults: $(cat "$WORK/faults.log")"
import sys, h5py
dec = lambda v: v.decode() if isinstance(v, bytes) else str(v)
t = h5py.File(sys.argv[1], "r")["trials"]
ids = [int(i) for i in t["id"][:]]
if sorted(ids) != list(range(6)):
    sys.exit("faults: trial ids %s, expected each of 0..5 once" % ids)
for i, st, err, fault in zip(ids, t["status"][:], t["error"][:], t["params/debug.fault"][:]):
    st, err, fault = dec(st), dec(err), dec(fault)
    want = "done" if i >= 4 or fault == "none" else "failed"
    if st != want:
        sys.exit("faults: trial %d (fault %s) is %s (%s), expected %s" % (i, fault, st, err, want))
    if want == "failed" and "of the trial's data-parallel group stopped" not in err:
        sys.exit("faults: trial %d (fault %s) failed with %r: not the group's failure" % (i, fault, err))
PY
grep -q "trial 1: its worker rank [1-4]: trial crashed its process: killed by signal 11 (SIGSEGV)" "$WORK/faults.log" \
  || die "faults: the crashed member's reason was not printed: $(cat "$WORK/faults.log")"
grep -q "trial 2: its worker rank [1-4]: exceeded trial_timeout of 2 s" "$WORK/faults.log" \
  || die "faults: the hung member's reason was not printed: $(cat "$WORK/faults.log")"
grep -q "trial 3: its worker rank [1-4]: loss became NaN" "$WORK/faults.log" \
  || die "faults: the diverging member's reason was not printed: $(cat "$WORK/faults.log")"

# A signal while a member hangs (no timeout) and its partner waits for it in a collective: past the
# grace period STOP reaches every member, the run ends at once with 138, nothing is left behind.
sed -e "/^trial_timeout/d" -e "s/\[none, segv, hang, nan\]/[hang]/" "$WORK/faults.yaml" >"$WORK/stop.yaml"
"$MPIEXEC" --oversubscribe -np 5 "$QUENCH" run "$WORK/stop.yaml" -o "$WORK/stop.h5" --progress plain --grace 1 \
  >"$WORK/stop.log" 2>&1 &
run=$!
for _ in $(seq 1 100); do grep -q "^study e2e-gradsync-faults" "$WORK/stop.log" && break; sleep 0.1; done
sleep 3 # the hanging trial's group is formed and its leader waits in the first collective
t0=$(date +%s)
kill -USR1 $run
set +e; wait $run; rc=$?; set -e
[[ $rc -eq 138 ]] || die "stop: exit $rc, expected 138: $(cat "$WORK/stop.log")"
(( $(date +%s) - t0 <= 6 )) || die "stop: the run took $(( $(date +%s) - t0 )) s to stop"
grep -q "grace period over: abandoned 1 running trial (--resume runs them again): 0$" "$WORK/stop.log" \
  || die "stop: no abandon note naming trial 0 once: $(cat "$WORK/stop.log")"
sleep 0.2
if pgrep -f -- "$WORK/" >"$WORK/left.txt"; then die "processes left behind: $(xargs ps -o pid,comm,args -p <"$WORK/left.txt")"; fi
echo "ok"
