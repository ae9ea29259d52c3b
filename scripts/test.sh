#!/usr/bin/env bash
# The test command: set-up, build, then every test (labels cpu, mpi, cuda; CUDA tests skip
# with a reason when no GPU is present). Extra arguments go to ctest, e.g. -L cpu.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/build.sh
build_dir="${BUILD_DIR:-build}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --test-dir "$build_dir" --output-on-failure --timeout 600 -j 2 "$@"
