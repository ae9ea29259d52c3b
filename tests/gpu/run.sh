#!/usr/bin/env bash
# The GPU suite in one command, for a machine with an NVIDIA GPU (sized for one H200, under 8
# minutes): configures build-gpu (-DST_CUDA=ON, CUDA architecture 90 unless ST_CUDA_ARCH says
# otherwise), builds, runs `ctest -L cuda`, runs st_cuda_tests under compute-sanitizer memcheck
# (st_cuda_op_tests and st_cuda_train_tests too when time allows; skipped with the reason when
# compute-sanitizer is not found in PATH or the CUDA toolkit), trains the quickstart-sized config with device: cuda
# (and prints its tokens/s beside a short CPU run's), runs scripts/bench_gpu.sh in the time left
# (less ST_GPU_CPU_TESTS_S, default 0, kept for the cpu tests), runs the cpu tests if time is
# left, then prints a summary with pass/fail counts and the benchmark tables.
# ST_GPU_BUDGET_S (default 470) is the time budget of the whole script.
#   bash tests/gpu/run.sh                 everything (exits early with a message when no GPU is visible)
#   bash tests/gpu/run.sh --build-only    configure and build only (works without a GPU)
# Every long step runs under `timeout`; a step that runs out of the time budget is reported and
# skipped, never left hanging. Logs go to build-gpu/gpu-run/.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

build_only=0
for a in "$@"; do
  case "$a" in
    --build-only) build_only=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "gpu-run: unknown argument '$a' (valid: --build-only)"; exit 2 ;;
  esac
done

build=${BUILD_DIR:-build-gpu}
arch=${ST_CUDA_ARCH:-90}
jobs=${JOBS:-$(nproc)}
budget=${ST_GPU_BUDGET_S:-470}  # seconds for the whole script (8 minutes, less a margin)
logs="$build/gpu-run"
start=$(date +%s)
summary=()
failed_steps=0

note() { echo "gpu-run: $*"; }
add() { summary+=("$*"); }
left() { echo $(( budget - ($(date +%s) - start) )); }
# limit WANT: the seconds a step may take, WANT or what is left of the budget (at least 1).
limit() {
  local l; l=$(left)
  (( l < $1 )) && echo $(( l > 1 ? l : 1 )) || echo "$1"
}

# ---- GPU present? -------------------------------------------------------------------------
gpu_name=""
if command -v nvidia-smi >/dev/null 2>&1; then
  gpu_name=$(timeout 20 nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
fi
if [ -z "$gpu_name" ] && [ "$build_only" = 0 ]; then
  note "no NVIDIA GPU is visible (nvidia-smi is $(command -v nvidia-smi >/dev/null 2>&1 && echo 'there but lists no GPU' || echo 'not installed'))."
  note "nothing to run here; on a GPU machine run this script again, or use --build-only to check that the CUDA build compiles."
  exit 3
fi
[ -n "$gpu_name" ] && note "GPU: $gpu_name" || note "no GPU visible: building only"

# ---- configure and build --------------------------------------------------------------------
mkdir -p "$logs"
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi
# cuDNN fused attention: the cudnn-frontend headers from ST_CUDNN_FRONTEND_INCLUDE or the cache
# scripts/cudnn_frontend.sh fills (nothing is fetched here: a GPU machine may have no network).
frontend=${ST_CUDNN_FRONTEND_INCLUDE:-$(ls -d "$root"/.cache/cudnn-frontend/*/include 2>/dev/null | tail -n 1)}
note "configuring $build (CUDA architecture $arch${frontend:+, cudnn-frontend $frontend})"
if ! timeout "$(limit 120)" cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DST_CUDA=ON \
       -DCMAKE_CUDA_ARCHITECTURES="$arch" ${frontend:+-DST_CUDNN_FRONTEND_INCLUDE="$frontend"} \
       >"$logs/configure.log" 2>&1; then
  tail -n 30 "$logs/configure.log"
  note "configure failed (log: $logs/configure.log)"
  exit 1
fi
add "$(grep -o "cuDNN fused attention .*" "$logs/configure.log" | tail -n 1)"
note "building with $jobs jobs"
t0=$(date +%s)
# --build-only checks the build (often on a small machine): the GPU run's time budget does not apply.
build_limit=$([ "$build_only" = 1 ] && echo 3600 || limit 330)
if ! timeout "$build_limit" cmake --build "$build" -j "$jobs" >"$logs/build.log" 2>&1; then
  tail -n 40 "$logs/build.log"
  note "build failed or timed out after $(( $(date +%s) - t0 )) s (log: $logs/build.log)"
  exit 1
fi
add "build: ok in $(( $(date +%s) - t0 )) s"
if [ "$build_only" = 1 ]; then
  note "build only: done in $(( $(date +%s) - start )) s"
  exit 0
fi

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# ctest_counts LOG: "P passed, F failed of T" from ctest's summary line.
ctest_counts() {
  local line; line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$1" | tail -n 1)
  if [ -z "$line" ]; then echo "no result (timed out?)"; return; fi
  local failed total; failed=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
  total=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$line")
  local skipped; skipped=$(grep -c -- "\*\*\*Skipped\|Not Run (Disabled)\| Skipped " "$1" || true)
  echo "$(( total - failed )) passed (of which $skipped skipped), $failed failed, of $total"
}

# ---- tests -----------------------------------------------------------------------------------
run_ctest() {  # NAME LABEL WANT_SECONDS
  local l; l=$(limit "$3")
  note "ctest -L $2 (at most $l s)"
  timeout "$l" ctest --test-dir "$build" -L "$2" --output-on-failure -j 8 --timeout 300 >"$logs/ctest-$1.log" 2>&1
  local rc=$?
  (( rc != 0 )) && failed_steps=$((failed_steps + 1))
  (( rc == 124 )) && note "ctest -L $2 ran out of time"
  grep -E "Failed|\*\*\*Skipped" "$logs/ctest-$1.log" | head -n 20
  add "ctest -L $2: $(ctest_counts "$logs/ctest-$1.log")"
}
run_ctest cuda cuda 150

# ---- compute-sanitizer memcheck on the CUDA test binaries --------------------------------------
sanitizer=$(command -v compute-sanitizer 2>/dev/null)
for c in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer; do
  [ -z "$sanitizer" ] && [ -x "$c" ] && sanitizer=$c
done
memcheck() {  # BINARY WANT_SECONDS
  local bin="$build/tests/$1" l; l=$(limit "$2")
  if [ ! -x "$bin" ]; then add "memcheck $1: skipped (not built)"; return; fi
  note "compute-sanitizer --tool memcheck $1 (at most $l s)"
  timeout "$l" "$sanitizer" --tool memcheck --error-exitcode 99 "$bin" --gtest_brief=1 >"$logs/memcheck-$1.log" 2>&1
  local rc=$?
  local errors; errors=$(grep -oE "ERROR SUMMARY: [0-9]+ error" "$logs/memcheck-$1.log" | tail -n 1 | grep -oE "[0-9]+")
  local tests; tests=$(grep -oE "\[  PASSED  \] [0-9]+ test" "$logs/memcheck-$1.log" | grep -oE "[0-9]+")
  if (( rc == 124 )); then
    add "memcheck $1: incomplete (timed out after $l s; ${errors:-no} error summary so far; log $logs/memcheck-$1.log)"
  elif (( rc == 0 )); then
    add "memcheck $1: 0 errors (${tests:-?} tests passed)"
  else
    failed_steps=$((failed_steps + 1))
    grep -E "^========= (Invalid|Program hit|  at|Address)|FAILED" "$logs/memcheck-$1.log" | head -n 20
    add "memcheck $1: FAILED (exit $rc, ${errors:-?} memcheck errors; log $logs/memcheck-$1.log)"
  fi
}
if [ -z "$sanitizer" ]; then
  add "memcheck: skipped (compute-sanitizer not found in PATH, /usr/local/cuda/bin or /usr/local/cuda/compute-sanitizer)"
else
  memcheck st_cuda_tests 120
  # The op table and whole-training tests are slow under memcheck: only while the benchmarks
  # keep their time.
  for b in st_cuda_op_tests st_cuda_train_tests; do
    if (( $(left) > 300 )); then memcheck "$b" 60
    else add "memcheck $b: skipped (time budget: $(left) s left)"; fi
  done
fi

# ---- st-train on the GPU: quickstart-sized ListOps ------------------------------------------
data=data/generated/quickstart
if ! ls "$data"/test-*.h5 >/dev/null 2>&1; then
  note "generating the quickstart ListOps in $data"
  timeout "$(limit 60)" "$build/launch/st-data" listops --out "$data" --train 20000 --val 1000 --test 1000 \
    --max-len 64 --min-len 8 --max-depth 4 --max-args 4 --seed 1 --quiet >"$logs/st-data.log" 2>&1 ||
    note "st-data failed (log: $logs/st-data.log)"
fi
tokens_per_s() {  # RUN_DIR -> mean tokens/s of the logged train lines after the first (warm-up)
  grep '"split":"train"' "$1/metrics.jsonl" 2>/dev/null | tail -n +2 |
    sed -E 's/.*"tokens_per_s":([0-9.eE+-]+).*/\1/' | awk '{s += $1; n++} END {if (n) printf "%.0f", s / n; else print "?"}'
}
train_run() {  # NAME DEVICE STEPS WANT_SECONDS
  local dir="$build/gpu-run/$1" l; l=$(limit "$4")
  rm -rf "$dir"
  note "st-train configs/quickstart.yaml on $2, $3 steps (at most $l s)"
  local t0; t0=$(date +%s)
  timeout "$l" "$build/launch/st-train" configs/quickstart.yaml --set device="$2" --set train.steps="$3" \
    --set run_dir="$dir" --set train.log_every=25 --set train.eval_every=0 --set train.checkpoint_every=0 \
    >"$logs/train-$1.log" 2>&1
  local rc=$?
  local secs=$(( $(date +%s) - t0 ))
  if (( rc != 0 )); then
    failed_steps=$((failed_steps + 1))
    tail -n 15 "$logs/train-$1.log"
    add "st-train $2: FAILED (exit $rc after $secs s; log $logs/train-$1.log)"
    return
  fi
  local loss acc
  loss=$(grep '"split":"train"' "$dir/metrics.jsonl" | tail -n 1 | sed -E 's/.*"loss":([0-9.eE+-]+).*/\1/')
  acc=$(grep -o '"test_accuracy": *[0-9.eE+-]*' "$dir/results.json" | sed -E 's/.*: *//')
  local tps; tps=$(tokens_per_s "$dir")
  eval "tps_$1=$tps"
  grep -h "device: \|gradient all-reduce" "$dir/train.log" | sed -E 's/^[0-9-]+ [0-9:]+ /  /'
  add "st-train $2: $3 steps in $secs s, $tps tokens/s, last train loss $loss, test accuracy $acc"
}
tps_cuda="?" tps_cpu="?"
if ls "$data"/test-*.h5 >/dev/null 2>&1; then
  train_run cuda cuda 400 120
  train_run cpu cpu 50 60
  if [[ "$tps_cuda" =~ ^[0-9]+$ && "$tps_cpu" =~ ^[0-9]+$ ]] && (( tps_cpu > 0 )); then
    add "st-train tokens/s cuda / cpu (one process, $(nproc) cores): $(awk -v a="$tps_cuda" -v b="$tps_cpu" 'BEGIN {printf "%.1f", a / b}')x"
  fi
else
  add "st-train: skipped (no quickstart data)"
fi

# ---- benchmarks: scripts/bench_gpu.sh in what is left (less the cpu tests' share, 15 s margin) ----
bench_out="$logs/bench"
bench_budget=$(( $(left) - ${ST_GPU_CPU_TESTS_S:-0} - 15 ))
if (( bench_budget >= 30 )); then
  note "scripts/bench_gpu.sh --budget $bench_budget"
  BUILD="$build" OUT="$bench_out" timeout $(( bench_budget + 10 )) bash scripts/bench_gpu.sh --budget "$bench_budget" \
    >"$logs/bench.log" 2>&1
  rc=$?
  if (( rc == 0 )) && [ -s "$bench_out/tables.md" ]; then
    add "benchmarks: done (tables below; raw CSVs and logs in $bench_out)"
  else
    failed_steps=$((failed_steps + 1))
    tail -n 20 "$logs/bench.log"
    add "benchmarks: FAILED (exit $rc; log $logs/bench.log)"
  fi
else
  add "benchmarks: skipped (time budget: $(left) s left)"
fi

# ---- the cpu tests last, in what is left of the budget (CI runs them too) --------------------
if (( $(left) > 30 )); then
  run_ctest cpu cpu 240
else
  add "ctest -L cpu: skipped (out of time budget)"
fi

# ---- summary ---------------------------------------------------------------------------------
echo
echo "==== GPU suite summary ($gpu_name; $(( $(date +%s) - start )) s) ===="
for s in "${summary[@]}"; do echo "  $s"; done
echo "  logs: $logs"
[ -s "$bench_out/tables.md" ] && cat "$bench_out/tables.md"
if (( failed_steps > 0 )); then
  echo "  $failed_steps step(s) failed"
  exit 1
fi
echo "  all steps passed"
