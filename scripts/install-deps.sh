#!/usr/bin/env bash
# Installs the Debian packages quench's build, tests and demo need. Does nothing (quietly) when
# they are all present; says what failed otherwise. Usage: scripts/install-deps.sh [--cuda-check]
set -u

packages=(
  cmake make gcc g++ pkg-config
  openmpi-bin libopenmpi-dev            # MPI: coordinator and workers
  libhdf5-dev hdf5-tools                # results file (serial flavour is used)
  libcriterion-dev                      # unit tests
  libopenblas-dev                       # CPU GEMM
  libyaml-dev libjansson-dev            # job files; JSON
  libpcre2-dev                          # tokenizer.json pre-tokenizer regexes
  python3 python3-h5py python3-numpy python3-pandas   # end-to-end checks and analysis
  python3-torch                         # PyTorch reference for the BERT parity check
  python3-matplotlib                    # quench report figures
  python3-optuna                        # Optuna reference of quench bench sampler
  munge slurmctld slurmd slurm-client   # a real single-node Slurm for the quench submit test
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
    echo "install-deps: not root and no sudo: install these packages by hand: ${missing[*]}" >&2
    exit 1
  fi
fi
log=$(mktemp)
if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log" 2>&1; then
  echo "install-deps: 'apt-get update' failed:" >&2; tail -n 20 "$log" >&2; rm -f "$log"; exit 1
fi
if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
  echo "install-deps: 'apt-get install ${missing[*]}' failed:" >&2; tail -n 20 "$log" >&2; rm -f "$log"; exit 1
fi
rm -f "$log"
echo "install-deps: done" >&2
