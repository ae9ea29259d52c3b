#!/usr/bin/env bash
# Configures and builds the project in ./build (Release). Runs the set-up step first.
# Environment: BUILD_DIR (default build), ST_CUDA (AUTO|ON|OFF, default AUTO),
# CMAKE_CUDA_ARCHITECTURES (default "80;90"), JOBS (default: number of cores).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh

build_dir="${BUILD_DIR:-build}"
jobs="${JOBS:-$(nproc)}"
args=(-S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DST_CUDA="${ST_CUDA:-AUTO}")
if [ -n "${CMAKE_CUDA_ARCHITECTURES:-}" ]; then
  args+=(-DCMAKE_CUDA_ARCHITECTURES="$CMAKE_CUDA_ARCHITECTURES")
fi
echo "build: configuring $build_dir"
cmake "${args[@]}" > "$build_dir.configure.log" 2>&1 || { cat "$build_dir.configure.log"; exit 1; }
grep -E "SimpleTRON:" "$build_dir.configure.log" || true
echo "build: compiling with $jobs jobs"
cmake --build "$build_dir" -j "$jobs"
