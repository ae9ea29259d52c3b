#!/usr/bin/env bash
# Installs the Debian packages the build needs, only those that are missing (idempotent).
# Runs as root, or through sudo when not root. The CUDA toolkit is optional and never installed here.
#   bash scripts/setup.sh         # the build and the tests
#   bash scripts/setup.sh fuzz    # and clang with libFuzzer (scripts/fuzz.sh)
set -euo pipefail

packages=(
  build-essential cmake pkg-config ccache
  libopenblas-openmp-dev     # BLAS sgemm/dgemm for the CPU backend (OpenMP build)
  libopenmpi-dev openmpi-bin # MPI communicator and mpirun
  libhdf5-dev                # data shards and checkpoints
  libyaml-cpp-dev            # configs
  nlohmann-json3-dev         # JSON: shard vocabularies, metrics, safetensors headers
  libpng-dev                 # reading the LRA Pathfinder PNG images
  libutf8proc-dev            # Unicode NFD, categories, lowercase for the WordPiece tokenizer
  libcli11-dev               # command-line parsing of the programs
  libgtest-dev googletest    # tests
  libbenchmark-dev           # micro-benchmarks
  python3 python3-venv       # fixture scripts (never a runtime dependency); the bundle test's venv
  xz-utils binutils          # the portable bundle: compression, symbol versions (scripts/bundle.sh)
)
if [ "${1:-}" = "fuzz" ]; then
  packages+=(
    clang libclang-rt-14-dev   # libFuzzer and clang's sanitizer runtimes
    libomp-14-dev              # OpenMP for clang
  )
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} Debian packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo_cmd=(sudo); else
    echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
