# quench submit against a real single-node Slurm: munged, slurmctld and slurmd from Debian, started
# here with their config, state and sockets in the temp dir and two fake typed GPUs (gpu:l40s:2,
# backed by /dev/null and /dev/zero). Cases: a study submitted and completed; a study requeued in the
# middle by `scontrol requeue` and one stopped by USR1 (what --signal=B:USR1@120 sends before the time
# limit), each resumed by the requeued job and completed with every trial recorded exactly once.
# Skipped (77) only when not root or when the packages are absent; scripts/install-deps.sh installs
# them. Every process this test starts carries QUENCH_SLURM_TEST in its environment, and the test
# stops exactly those on exit, never a daemon it did not start.
source "$(dirname "$0")/lib.sh"
# This case runs as root and starts daemons: never without its own temp dir.
[[ -d ${WORK:-} && $WORK == /tmp/* ]] || exit 1

skip() { echo "skipped: $*"; exit 77; }
[[ $(id -u) -eq 0 ]] || skip "needs root to start munged, slurmctld and slurmd"
for exe in /usr/sbin/munged /usr/sbin/slurmctld /usr/sbin/slurmd; do
  [[ -x $exe ]] || skip "$exe is absent (apt-get install munge slurmctld slurmd slurm-client)"
done
for exe in munge sbatch squeue sinfo scontrol scancel srun; do
  command -v "$exe" >/dev/null || skip "$exe is absent (apt-get install munge slurm-client)"
done

# munged checks that every directory above its socket is searchable by all.
chmod 755 "$WORK"
M="$WORK/munge" S="$WORK/slurm"
mkdir -p "$M" "$S/ctld" "$S/spool" "$S/log" "$S/tmp"
export QUENCH_SLURM_TEST="$WORK" SLURM_CONF="$S/slurm.conf"
NODE=$(hostname -s)

# Our processes: the daemons, slurmstepd and the jobs' processes all inherit the marker.
ours() {
  local p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ $p == "$$" || $p == "$BASHPID" ]] && continue
    grep -qzxF "QUENCH_SLURM_TEST=$WORK" "/proc/$p/environ" 2>/dev/null && echo "$p"
  done
  return 0
}
# Cancel our jobs, then stop our daemons and whatever else of ours is left (SIGTERM, then SIGKILL).
# Runs in the exit trap: nothing here may fail (set -e), a process may vanish before its kill.
stop_cluster() {
  local id pids
  if [[ -n $(ours) ]]; then
    for id in $(timeout 10 squeue -h -o %i 2>/dev/null || true); do timeout 10 scancel "$id" 2>/dev/null || true; done
    for _ in $(seq 100); do [[ -z $(timeout 10 squeue -h -o %i 2>/dev/null || true) ]] && break; sleep 0.2; done
  fi
  pids=$(ours)
  [[ -z $pids ]] || kill $pids 2>/dev/null || true
  for _ in $(seq 50); do [[ -z $(ours) ]] && break; sleep 0.2; done
  pids=$(ours)
  [[ -z $pids ]] || { kill -KILL $pids 2>/dev/null || true; sleep 0.5; }
  return 0
}
on_exit() {
  local rc=$?
  if [[ $rc -ne 0 && $rc -ne 77 ]]; then
    for f in "$S"/log/*.log "$WORK"/*/*.out "$WORK"/*/*.err; do
      [[ -f $f ]] && { echo "--- $f (last 30 lines)" >&2; tail -n 30 "$f" >&2; }
    done
  fi
  stop_cluster
  rm -rf "$WORK"
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# Two free TCP ports for slurmctld and slurmd, so a Slurm already on this machine is left alone.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in $(seq 50); do
  PORT=$((20000 + RANDOM % 20000))
  port_free "$PORT" && port_free $((PORT + 1)) && break
done

# munged, private: its own key and socket; Slurm finds it through AuthInfo.
head -c 1024 /dev/urandom >"$M/key"
chmod 600 "$M/key"
/usr/sbin/munged --socket="$M/sock" --key-file="$M/key" --pid-file="$M/munged.pid" \
  --log-file="$M/munged.log" --seed-file="$M/seed" || die "munged did not start: $(tail -3 "$M/munged.log")"
munge -S "$M/sock" -n >/dev/null || die "munged does not answer"

cat >"$S/slurm.conf" <<EOF
ClusterName=quenchtest
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$M/sock
CredType=cred/munge
StateSaveLocation=$S/ctld
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
MailProg=/bin/true
# No systemd or cgroups needed (containers, gVisor): track processes through /proc.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
# The node declares 4 CPUs whatever the machine has.
SlurmdParameters=config_overrides
# Slurm's default: the time between SIGTERM (scontrol requeue) and SIGKILL.
KillWait=30
MinJobAge=600
# Job ids (and so the names of PMIx's /tmp/spmix_appdir_<uid>_<job>.<step>) unlike another run's.
FirstJobId=$((1000 + RANDOM * 16))
TmpFS=$S/tmp
InactiveLimit=0
Waittime=0
JobRequeue=1
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=4 Boards=1 SocketsPerBoard=1 CoresPerSocket=4 ThreadsPerCore=1 RealMemory=2000 Gres=gpu:l40s:2 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
# Fake GPUs: a GRES needs a device file, and any existing one will do.
cat >"$S/gres.conf" <<EOF
AutoDetect=off
NodeName=$NODE Name=gpu Type=l40s File=/dev/null
NodeName=$NODE Name=gpu Type=l40s File=/dev/zero
EOF
/usr/sbin/slurmctld -f "$SLURM_CONF" || die "slurmctld did not start"
/usr/sbin/slurmd -f "$SLURM_CONF" -N "$NODE" || die "slurmd did not start"
for _ in $(seq 150); do [[ $(sinfo -h -n "$NODE" -o %T 2>/dev/null) == idle ]] && break; sleep 0.2; done
[[ $(sinfo -h -n "$NODE" -o %T 2>/dev/null) == idle ]] || die "the node is not idle: $(sinfo 2>&1)"

# One field of `scontrol show job` (no pipeline: pipefail and an early exit do not mix).
job_field() {
  local w
  for w in $(scontrol show job "$1" 2>/dev/null); do [[ $w == "$2="* ]] && { echo "${w#*=}"; return 0; }; done
  return 0
}
# Wait until job $1 is in state $2 (at most $3 s); any other final state is a failure.
wait_state() {
  local id=$1 want=$2 state=
  for _ in $(seq $(($3 * 5))); do
    state=$(job_field "$id" JobState)
    [[ $state == "$want" ]] && return 0
    case $state in
      COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED)
        die "job $id is $state, expected $want (exit code $(job_field "$id" ExitCode))" ;;
    esac
    sleep 0.2
  done
  die "job $id still $state after $3 s, expected $want"
}
# Wait until the log $1 shows at least $2 recorded trials (progress lines "[ k/N] trial ...").
wait_trials() {
  for _ in $(seq $(($3 * 5))); do
    [[ $(grep -cE '^\[ *[0-9]+/[0-9]+\] trial ' "$1" 2>/dev/null) -ge $2 ]] && return 0
    sleep 0.2
  done
  die "$1 shows fewer than $2 trials after $3 s"
}
# Every trial recorded exactly once: the file (check_results.py) and the logs (one progress line each,
# so none ran twice).
check_study() {
  local results=$1 n=$2 log=$3
  $CHECK "$results" --trials "$n" --done "$n" >/dev/null || die "$results is incomplete"
  local lines ids
  lines=$(grep -cE '^\[ *[0-9]+/[0-9]+\] trial ' "$log" || true)
  ids=$(grep -oE '^\[ *[0-9]+/[0-9]+\] trial [0-9]+' "$log" | awk '{print $NF}' | sort -u | wc -l || true)
  [[ $lines -eq $n && $ids -eq $n ]] || die "$log: $lines trial lines for $ids distinct trials, expected $n each"
}

# Null trials that sleep: the timing is the study's, not the machine's.
study() {
  cat <<EOF
name: $1
seed: 7
model: {arch: null}
debug: {sleep_ms: $3}
stages:
  - name: sweep
    grid:
      train.lr: [$(seq -s, 1 "$2" | sed 's/[0-9]\+/&.0e-3/g')]
    run: [train, eval]
EOF
}

# a. Submit and complete: the job id is printed, the GPUs are the typed GRES asked for, the results
#    and logs are next to each other.
mkdir -p "$WORK/a"
study slurm-a 6 100 >"$WORK/a.yaml"
id=$("$QUENCH" submit "$WORK/a.yaml" --gpus l40s:2 -o "$WORK/a/a.h5") || die "quench submit failed"
[[ $id =~ ^[0-9]+$ ]] || die "quench submit printed '$id', expected a job id"
[[ $(job_field "$id" TresPerNode) == gres:gpu:l40s:2 ]] || die "job $id: $(scontrol show job "$id" | grep -i tres)"
wait_state "$id" COMPLETED 60
[[ -f $WORK/a/a.h5.sbatch && -f $WORK/a/a.h5.$id.out && -f $WORK/a/a.h5.$id.err ]] ||
  die "script and logs are not next to the results: $(ls "$WORK/a")"
grep -q "on 2 workers" "$WORK/a/a.h5.$id.out" || die "the study did not run on 2 workers"
check_study "$WORK/a/a.h5" 6 "$WORK/a/a.h5.$id.out"
echo "a. submitted and completed: ok"

# b. Requeue in the middle; $2 stops the first run: "scontrol" (SIGTERM to every process) or "usr1"
#    (USR1 to the batch shell only, which passes it to the study and requeues the job itself).
requeue_case() {
  local dir=$WORK/$1 n=24
  mkdir -p "$dir"
  study "slurm-$1" $n 400 >"$WORK/$1.yaml"
  local id
  id=$("$QUENCH" submit "$WORK/$1.yaml" --gpus l40s:2 -o "$dir/r.h5") || die "quench submit failed"
  local log=$dir/r.h5.$id.out
  wait_state "$id" RUNNING 60
  wait_trials "$log" 3 60
  if [[ $2 == scontrol ]]; then
    scontrol requeue "$id" || die "scontrol requeue $id failed"
  else
    scancel --batch --signal=USR1 "$id" || die "scancel --batch --signal=USR1 $id failed"
  fi
  # A requeued job waits ~2 minutes (BeginTime) before it may run again: make it eligible now.
  wait_state "$id" PENDING 60
  [[ $(job_field "$id" Restarts) == 1 ]] || die "job $id: Restarts=$(job_field "$id" Restarts), expected 1"
  # Not within the second slurmd revoked the first run's credential (whole seconds): a run started
  # then fails at once with "Job credential revoked".
  sleep 2
  scontrol update JobId="$id" StartTime=now || die "scontrol update JobId=$id StartTime=now failed"
  wait_state "$id" COMPLETED 90
  # The first run stopped cleanly: no new trials after the signal, the running ones finished and
  # were recorded, the coordinator said how to finish; no task was killed by the signal.
  ! grep -q "User defined signal 1" "$dir/r.h5.$id.err" || die "USR1 killed a task: $(cat "$dir/r.h5.$id.err")"
  grep -q "^stopped before the end" "$log" || die "$log: the first run did not stop cleanly"
  local running finished
  running=$(sed -nE '/.*: no new trials; (waiting for )?([0-9]+) running.*/{s//\2/p;q}' "$log")
  [[ -n $running ]] || die "$log: no 'no new trials' note from the coordinator"
  finished=$(awk '/: no new trials; /{on=1; next} /^stopped before the end/{exit} on && /^\[ *[0-9]+\/[0-9]+\] trial /{k++} END{print k+0}' "$log")
  [[ $finished -eq $running ]] || die "$log: $running trials were running at the signal, $finished finished"
  local resumed
  resumed=$(sed -n 's/^resuming: \([0-9]*\) of '$n' trials already recorded$/\1/p' "$log")
  [[ -n $resumed ]] || die "$log shows no resumed run"
  [[ $resumed -ge 3 && $resumed -lt $n ]] || die "the requeued run resumed after $resumed of $n trials"
  check_study "$dir/r.h5" $n "$log"
  echo "b. $2: requeued after $resumed of $n trials, resumed and completed: ok"
}
requeue_case b1 scontrol
requeue_case b2 usr1

# Nothing of ours may outlive the test.
stop_cluster
[[ -z $(ours) ]] || die "processes left after stopping the cluster: $(ours | xargs -r ps -o pid,args -p)"
echo "slurm_real: ok"
