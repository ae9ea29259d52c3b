#!/usr/bin/env bash
# Configures and builds the project in ./build (Release). Runs the set-up step first.
# Environment: BUILD_DIR (default build), ST_CUDA (AUTO|ON|OFF, default AUTO),
# CMAKE_CUDA_ARCHITECTURES (default "80;90"), JOBS (default: number of cores), ST_WERROR (ON:
# compiler warnings are errors, as in CI; default OFF). A CUDA build also fetches the
# cudnn-frontend headers (scripts/cudnn_frontend.sh) for the fused softmax attention.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh

build_dir="${BUILD_DIR:-build}"
jobs="${JOBS:-$(nproc)}"
args=(-S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DST_CUDA="${ST_CUDA:-AUTO}" -DST_WERROR="${ST_WERROR:-OFF}")
if [ -n "${CMAKE_CUDA_ARCHITECTURES:-}" ]; then
  args+=(-DCMAKE_CUDA_ARCHITECTURES="$CMAKE_CUDA_ARCHITECTURES")
fi
# cuDNN fused attention needs the cudnn-frontend headers: fetched only for a CUDA build. When
# they cannot be fetched the build goes on without the fused attention (the configure summary
# says so).
if [ "${ST_CUDA:-AUTO}" != "OFF" ] && { command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; }; then
  if fe_include="$(bash scripts/cudnn_frontend.sh)"; then
    args+=(-DST_CUDNN_FRONTEND_INCLUDE="$fe_include")
  else
    echo "build: cudnn-frontend headers unavailable; building without cuDNN fused attention"
    args+=(-DST_CUDNN_FRONTEND_INCLUDE=)
  fi
fi
echo "build: configuring $build_dir"
cmake "${args[@]}" > "$build_dir.configure.log" 2>&1 || { cat "$build_dir.configure.log"; exit 1; }
grep -E "SimpleTRON:" "$build_dir.configure.log" || true
echo "build: compiling with $jobs jobs"
cmake --build "$build_dir" -j "$jobs"
