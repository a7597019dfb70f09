# Shared by the end-to-end cases. ctest sets QUENCH, MPIEXEC, PYTHON (Debian's python3 with h5py), SRC.
set -euo pipefail
: "${QUENCH:?}" "${MPIEXEC:=mpirun}" "${PYTHON:=/usr/bin/python3}" "${SRC:?}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
WORK=$(mktemp -d /tmp/quench-e2e.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
JOBS="$SRC/tests/e2e/jobs"
CHECK="$PYTHON $SRC/tests/e2e/check_results.py"

die() { echo "FAIL: $*" >&2; exit 1; }
# mpirun with a watchdog: Open MPI can hang in MPI_Finalize after a rank dies.
mpi() { local np=$1; shift; timeout 600 "$MPIEXEC" --oversubscribe -np "$np" "$@"; }
# Run a command, expect exit code $1.
expect_rc() { local want=$1; shift; set +e; "$@"; local rc=$?; set -e; [[ $rc -eq $want ]] || die "'$*' exited $rc, expected $want"; }
# quench with the given arguments (one word-split string) must fail as bad input: exit 2, one line on stderr.
expect_usage_error() {
  set +e; "$QUENCH" $1 >/dev/null 2>"$WORK/usage-err"; local rc=$?; set -e
  [[ $rc -eq 2 ]] || die "quench $1 exited $rc, expected 2"
  [[ $(wc -l <"$WORK/usage-err") -eq 1 ]] || die "quench $1: expected one line on stderr, got: $(cat "$WORK/usage-err")"
}
