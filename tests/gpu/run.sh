#!/usr/bin/env bash
# The GPU suite in one command, for a machine with an NVIDIA GPU (sized for about 5 minutes on
# one H200, so that a short GPU lease leaves room for a rerun). It runs from the portable bundle
# (scripts/bundle.sh; docs/install.md), so nothing compiles on the GPU machine:
#   bash tests/gpu/run.sh --bundle FILE      unpack the bundle FILE (into ST_GPU_UNPACK_DIR, default
#                                            a new folder under ${TMPDIR:-/tmp}) and run its copy
#   BUNDLE/share/simpletron/tests/gpu/run.sh the bundle's own copy, on an unpacked bundle
#   bash tests/gpu/run.sh                    from this checkout: configure and build build-gpu
#                                            (-DST_CUDA=ON, architecture ST_CUDA_ARCH, default 90)
#   bash tests/gpu/run.sh --build-only       configure and build only (works without a GPU)
#   ... --rehearse                           every step without a GPU, to check the script: the
#                                            CUDA tests must skip with their reason, the "GPU"
#                                            training run goes to the CPU, the benchmarks are
#                                            a dry run
# Steps, in order of what they teach: the program versions and the CUDA libraries st-env chose
# (bundle), each CUDA test binary (st_nccl_tests and st_cuda_dp_tests under mpirun -np 2),
# compute-sanitizer on st_cuda_tests (memcheck on our kernels, racecheck and synccheck on the
# reduction and row kernels, then memcheck on the GEMM cases; skipped with the reason when
# compute-sanitizer is not found), the quickstart data, st-train on the GPU
# and a short CPU run (tokens/s side by side), scripts/bench_gpu.sh in the time left (less
# ST_GPU_CPU_TESTS_S, default 0), the cpu tests when built here (a bundle has none), then a
# summary: pass, skip and fail counts per step, and the benchmark tables.
# A run on a GPU fails, rather than passing on skips, when a CUDA test finds no CUDA device that
# nvidia-smi lists, or when the build lacks the cuDNN fused attention.
# ST_GPU_STEPS (default all: tests,sanitizers,train,bench,cpu-tests) picks steps to rerun.
# ST_GPU_BUDGET_S (default 300) is the time budget of the whole script; every long step runs under
# `timeout` and a step the budget cannot cover is reported as skipped, never left hanging. Logs
# go to build-gpu/gpu-run/ (from a checkout) or BUNDLE/gpu-run/ (ST_GPU_WORK_DIR overrides).
# The bundle's CUDA libraries come from the machine (st-env: ST_CUDA_LIBS, the toolkit, then the
# wheels of the python3 on PATH or ST_PYTHON): activate the virtual environment that holds the
# nvidia-cudnn and nvidia-nccl wheels first, or set ST_PYTHON.
# Exit: 0 all steps passed, 1 a step failed, 2 bad arguments, 3 no GPU visible.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

build_only=0 rehearse=0 bundle_file=""
while (( $# )); do
  case "$1" in
    --build-only) build_only=1 ;;
    --rehearse) rehearse=1 ;;
    --bundle) bundle_file=${2:-}; [ -n "$bundle_file" ] || { echo "gpu-run: --bundle needs a file"; exit 2; }; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "gpu-run: unknown argument '$1' (valid: --bundle FILE, --build-only, --rehearse, --help)"; exit 2 ;;
  esac
  shift
done
note() { echo "gpu-run: $*"; }

# ---- --bundle FILE: unpack, then run the bundle's own copy of this script ----------------------
if [ -n "$bundle_file" ]; then
  [ -f "$bundle_file" ] || { note "no bundle file '$bundle_file'"; exit 2; }
  dest=${ST_GPU_UNPACK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/simpletron-gpu.XXXXXX")}
  mkdir -p "$dest" || exit 1
  note "unpacking $bundle_file into $dest"
  t0=$(date +%s)
  tar -C "$dest" -xf "$bundle_file" || { note "could not unpack $bundle_file (a .tar.xz from scripts/bundle.sh)"; exit 1; }
  copy=$(ls -d "$dest"/simpletron-*/share/simpletron/tests/gpu/run.sh 2>/dev/null | tail -n 1)
  [ -n "$copy" ] || { note "$bundle_file holds no share/simpletron/tests/gpu/run.sh: not a bundle with the GPU suite"; exit 1; }
  note "unpacked in $(( $(date +%s) - t0 )) s; running $copy"
  args=()
  (( rehearse )) && args+=(--rehearse)
  exec bash "$copy" "${args[@]}"
fi

# ---- where the programs are: a bundle or a checkout ---------------------------------------------
if [ -x "$here/../../../../bin/st-env" ] && [ -f "$here/../../bundle/manifest" ]; then
  mode=bundle
  bundle=$(cd "$here/../../../.." && pwd)
  (( build_only )) && { note "--build-only: a bundle has nothing to build"; exit 0; }
  prog() { echo "$bundle/bin/$1"; }
  test_bin() { echo "$bundle/bin/$1"; }
  mpirun=("$bundle/bin/mpirun")
  config="$bundle/share/simpletron/configs/quickstart.yaml"
  bench_script="$bundle/share/simpletron/scripts/bench_gpu.sh"
  bench_bin="$bundle/bin"
  work=${ST_GPU_WORK_DIR:-$bundle/gpu-run}
  export ST_FIXTURES_DIR="$bundle/share/simpletron/tests/fixtures"
else
  mode=checkout
  root=$(cd "$here/../.." && pwd)
  cd "$root"
  build=${BUILD_DIR:-build-gpu}
  prog() { echo "$build/launch/$1"; }
  test_bin() { echo "$build/tests/$1"; }
  mpirun=(mpirun)
  config="$root/configs/quickstart.yaml"
  bench_script="$root/scripts/bench_gpu.sh"
  bench_bin="$build/bench"
  work=${ST_GPU_WORK_DIR:-$build/gpu-run}
fi
# ST_GPU_STEPS: the steps to run, separated by commas (default all): tests, sanitizers, train,
# bench, cpu-tests.
steps=",${ST_GPU_STEPS:-tests,sanitizers,train,bench,cpu-tests},"
want() { [[ $steps == *",$1,"* ]]; }
for w in ${steps//,/ }; do
  [[ ",tests,sanitizers,train,bench,cpu-tests," == *",$w,"* ]] ||
    { note "ST_GPU_STEPS: unknown step '$w' (valid: tests, sanitizers, train, bench, cpu-tests)"; exit 2; }
done
budget=${ST_GPU_BUDGET_S:-300}
[[ $budget =~ ^[0-9]+$ ]] || { note "ST_GPU_BUDGET_S must be a number of seconds, got '$budget'"; exit 2; }
logs="$work/logs"
start=$(date +%s)
summary=()
failed_steps=0

add() { summary+=("$*"); }
fail_step() { failed_steps=$((failed_steps + 1)); add "$*"; }
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
if [ -z "$gpu_name" ] && (( !build_only && !rehearse )); then
  note "no NVIDIA GPU is visible (nvidia-smi is $(command -v nvidia-smi >/dev/null 2>&1 && echo 'there but lists no GPU' || echo 'not installed'))."
  note "nothing to run here; on a GPU machine run this script again (--rehearse checks the script without one; --build-only checks that the CUDA build compiles)."
  exit 3
fi
if [ -n "$gpu_name" ]; then note "GPU: $gpu_name"
elif (( rehearse )); then note "rehearsal: no GPU; the CUDA tests must skip, the GPU run goes to the CPU"; gpu_name="none (rehearsal)"
fi
mkdir -p "$logs" || exit 1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# ---- the programs: built here, or the bundle's -------------------------------------------------
if [ "$mode" = checkout ]; then
  if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi
  # cuDNN fused attention: the cudnn-frontend headers from ST_CUDNN_FRONTEND_INCLUDE or the cache
  # scripts/cudnn_frontend.sh fills (nothing is fetched here: a GPU machine may have no network).
  frontend=${ST_CUDNN_FRONTEND_INCLUDE:-$(ls -d "$root"/.cache/cudnn-frontend/*/include 2>/dev/null | tail -n 1)}
  arch=${ST_CUDA_ARCH:-90}
  note "configuring $build (CUDA architecture $arch${frontend:+, cudnn-frontend $frontend})"
  if ! timeout "$(limit 120)" cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DST_CUDA=ON \
         -DCMAKE_CUDA_ARCHITECTURES="$arch" ${frontend:+-DST_CUDNN_FRONTEND_INCLUDE="$frontend"} \
         >"$logs/configure.log" 2>&1; then
    tail -n 30 "$logs/configure.log"
    note "configure failed (log: $logs/configure.log)"
    exit 1
  fi
  add "$(grep -o "cuDNN fused attention .*" "$logs/configure.log" | tail -n 1)"
  jobs=${JOBS:-$(nproc)}
  note "building with $jobs jobs"
  t0=$(date +%s)
  # --build-only checks the build (often on a small machine): the run's time budget does not apply.
  build_limit=$( (( build_only )) && echo 3600 || limit 330)
  if ! timeout "$build_limit" cmake --build "$build" -j "$jobs" >"$logs/build.log" 2>&1; then
    tail -n 40 "$logs/build.log"
    note "build failed or timed out after $(( $(date +%s) - t0 )) s (log: $logs/build.log)"
    exit 1
  fi
  add "build: ok in $(( $(date +%s) - t0 )) s"
  if (( build_only )); then
    note "build only: done in $(( $(date +%s) - start )) s"
    exit 0
  fi
  mpirun_cfg=$(sed -n 's/^MPIEXEC_EXECUTABLE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null)
  [ -n "$mpirun_cfg" ] && mpirun=("$mpirun_cfg")
else
  note "bundle: $bundle"
  # st-env alone reports the CUDA libraries it chose, or fails naming the one it cannot find.
  if ! "$bundle/bin/st-env" >"$logs/st-env.log" 2>&1; then
    cat "$logs/st-env.log"
    note "the bundle cannot start here (above: st-env's reason); set ST_CUDA_LIBS, or ST_PYTHON to the python3 whose site-packages hold the nvidia wheels"
    exit 1
  fi
  add "st-env: $(grep -m 1 "^st-env: " "$logs/st-env.log" | sed 's/^st-env: //')"
fi
version=$(ST_ENV_QUIET=1 "$(prog st-train)" --version 2>&1 | head -n 1)
note "$version"
# A CUDA build without the cuDNN fused attention would never test it: that is a failure here.
if [[ $version == *"fused attention on"* ]]; then add "program: $version"
else fail_step "program: FAILED: the build lacks the CUDA backend or the cuDNN fused attention ($version)"; fi

# ---- the CUDA test binaries ------------------------------------------------------------------
# gtest_counts LOG: "P passed, S skipped, F failed" from the first rank's gtest summary, and the
# distinct reasons given for skipping (a skip on a GPU machine is worth reading).
gtest_counts() {
  local p s f why
  p=$(grep -m 1 -oE "\[  PASSED  \] [0-9]+ test" "$1" | grep -oE "[0-9]+")
  s=$(grep -m 1 -oE "\[  SKIPPED \] [0-9]+ test" "$1" | grep -oE "[0-9]+")
  f=$(grep -m 1 -oE "\[  FAILED  \] [0-9]+ test" "$1" | grep -oE "[0-9]+")
  why=$(grep -A 1 -E ": Skipped$" "$1" | grep -vE ": Skipped$|^--$" | awk '!seen[$0]++' | head -n 2 | paste -sd '|' -)
  echo "${p:-0} passed, ${s:-0} skipped, ${f:-0} failed${why:+ (skipped: ${why//|/; })}"
}
run_tests() {  # NAME WANT_SECONDS RANKS
  local bin l rc; bin=$(test_bin "$1"); l=$(limit "$2")
  if [ ! -x "$bin" ]; then fail_step "$1: FAILED (not found: $bin)"; return; fi
  local cmd=("$bin" --gtest_brief=1 --gtest_color=no)
  (( $3 > 1 )) && cmd=("${mpirun[@]}" -np "$3" --oversubscribe --bind-to none -x OMP_NUM_THREADS=1 "${cmd[@]}")
  note "$1 ($3 rank(s), at most $l s)"
  ST_ENV_QUIET=1 timeout "$l" "${cmd[@]}" >"$logs/test-$1.log" 2>&1
  rc=$?
  local counts; counts=$(gtest_counts "$logs/test-$1.log")
  if (( rc == 0 )) && (( !rehearse )) && [[ $counts == *"no CUDA device"* || $counts == *"this build has no CUDA"* ]]; then
    # nvidia-smi sees a GPU: a test that finds none has tested nothing.
    fail_step "$1: FAILED: nvidia-smi lists $gpu_name but the tests found no CUDA device ($counts; log $logs/test-$1.log)"
  elif (( rc == 0 )); then
    add "$1: $counts"
  else
    grep -E "FAILED|Failure|error" "$logs/test-$1.log" | head -n 15
    fail_step "$1: FAILED (exit $rc$( (( rc == 124 )) && echo ", out of time after $l s"); $counts; log $logs/test-$1.log)"
  fi
}
if want tests; then
  run_tests st_cuda_tests 60 1
  run_tests st_cuda_fused_attention_tests 40 1
  run_tests st_device_routing_tests 20 1
  run_tests st_cuda_op_tests 60 1
  run_tests st_cuda_train_tests 90 1
  run_tests st_nccl_tests 40 2
  run_tests st_cuda_dp_tests 60 2
fi

# ---- compute-sanitizer on st_cuda_tests ---------------------------------------------------------
sanitizer=$(command -v compute-sanitizer 2>/dev/null)
for c in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer; do
  [ -z "$sanitizer" ] && [ -x "$c" ] && sanitizer=$c
done
sanitize() {  # TOOL NAME FILTER WANT_SECONDS: compute-sanitizer --tool TOOL on the st_cuda_tests FILTER
  local tool=$1 name=$2 filter=$3 l rc; l=$(limit "$4")
  local cmd=("$sanitizer" --tool "$tool" --error-exitcode 99 --target-processes all "$(test_bin st_cuda_tests)")
  # From a bundle, the binary is reached through st-env, which sets the library path.
  [ "$mode" = bundle ] && cmd=("$bundle/bin/st-env" "$sanitizer" --tool "$tool" --error-exitcode 99
                               "$bundle/libexec/simpletron/tests/st_cuda_tests")
  local log="$logs/$tool-$name.log"
  note "compute-sanitizer $tool st_cuda_tests, $name (at most $l s)"
  ST_ENV_QUIET=1 timeout "$l" "${cmd[@]}" --gtest_brief=1 --gtest_color=no --gtest_filter="$filter" >"$log" 2>&1
  rc=$?
  local errors; errors=$(grep -oE "ERROR SUMMARY: [0-9]+ error" "$log" | tail -n 1 | grep -oE "[0-9]+")
  if (( rc == 124 )); then
    add "$tool $name: incomplete (out of time after $l s; ${errors:-no} error summary so far; log $log)"
  elif (( rc == 0 )); then
    add "$tool $name: ${errors:-0} errors ($(gtest_counts "$log"))"
  else
    grep -E "^========= (Invalid|Race|Barrier|Program hit|  at|Address)|FAILED" "$log" | head -n 20
    fail_step "$tool $name: FAILED (exit $rc, ${errors:-?} errors; log $log)"
  fi
}
# The reduction and row kernels: block-level shared memory and barriers, what racecheck and
# synccheck look at.
reductions='*SumAxis*:*Softmax*:*LayerNorm*:*CrossEntropy*:*SumOfSquares*:*ClipGradNorm*'
if ! want sanitizers; then
  :
elif [ -z "$sanitizer" ]; then
  add "compute-sanitizer: skipped (not found in PATH, /usr/local/cuda/bin or /usr/local/cuda/compute-sanitizer)"
else
  sanitize memcheck kernels '-*Gemm*' 60
  sanitize racecheck reductions "$reductions" 30
  sanitize synccheck reductions "$reductions" 20
  if (( $(left) > 170 )); then sanitize memcheck gemm '*Gemm*' 40
  else add "memcheck gemm: skipped (time budget: $(left) s left)"; fi
fi

# ---- st-train on the GPU: quickstart-sized ListOps ------------------------------------------
data="$work/data/quickstart"
# A rehearsal checks the plumbing, not the learning: a tenth of the data, a few steps.
train_n=$( (( rehearse )) && echo 2000 || echo 20000) eval_n=$( (( rehearse )) && echo 200 || echo 1000)
if want train && ! ls "$data"/test-*.h5 >/dev/null 2>&1; then
  note "generating the quickstart ListOps in $data"
  if ! ST_ENV_QUIET=1 timeout "$(limit 60)" "$(prog st-data)" listops --out "$data" --train "$train_n" --val "$eval_n" \
       --test "$eval_n" --max-len 64 --min-len 8 --max-depth 4 --max-args 4 --seed 1 --quiet >"$logs/st-data.log" 2>&1; then
    tail -n 5 "$logs/st-data.log"
    fail_step "st-data: FAILED (log $logs/st-data.log)"
  fi
fi
tokens_per_s() {  # RUN_DIR -> mean tokens/s of the logged train lines after the first (warm-up)
  grep '"split":"train"' "$1/metrics.jsonl" 2>/dev/null | tail -n +2 |
    sed -E 's/.*"tokens_per_s":([0-9.eE+-]+).*/\1/' | awk '{s += $1; n++} END {if (n) printf "%.0f", s / n; else print "?"}'
}
train_run() {  # NAME DEVICE STEPS WANT_SECONDS
  local dir="$work/$1" l; l=$(limit "$4")
  rm -rf "$dir"
  note "st-train quickstart on $2, $3 steps (at most $l s)"
  local t0; t0=$(date +%s)
  ST_ENV_QUIET=1 timeout "$l" "$(prog st-train)" "$config" --set device="$2" --set train.steps="$3" \
    --set run_dir="$dir" --set data.train="$data/train-*.h5" --set data.val="$data/val-*.h5" \
    --set data.test="$data/test-*.h5" --set train.log_every=$(( $3 >= 100 ? 25 : 5 )) --set train.eval_every=0 \
    --set train.checkpoint_every=0 >"$logs/train-$1.log" 2>&1
  local rc=$?
  local secs=$(( $(date +%s) - t0 ))
  if (( rc != 0 )); then
    tail -n 15 "$logs/train-$1.log"
    fail_step "st-train $1 run on $2: FAILED (exit $rc after $secs s; log $logs/train-$1.log)"
    return
  fi
  local loss acc
  loss=$(grep '"split":"train"' "$dir/metrics.jsonl" | tail -n 1 | sed -E 's/.*"loss":([0-9.eE+-]+).*/\1/')
  acc=$(grep -o '"test_accuracy": *[0-9.eE+-]*' "$dir/results.json" | sed -E 's/.*: *//')
  local tps; tps=$(tokens_per_s "$dir")
  eval "tps_$1=$tps"
  grep -h "device: \|gradient all-reduce" "$dir/train.log" | sed -E 's/^[0-9-]+ [0-9:]+ /  /'
  add "st-train $1 run on $2: $3 steps in $secs s, $tps tokens/s, last train loss $loss, test accuracy $acc"
}
tps_gpu="?" tps_cpu="?"
if ! want train; then
  :
elif ls "$data"/test-*.h5 >/dev/null 2>&1; then
  if (( rehearse )); then train_run gpu cpu 20 60; else train_run gpu cuda 400 60; fi
  train_run cpu cpu "$( (( rehearse )) && echo 20 || echo 50)" 40
  if [[ "$tps_gpu" =~ ^[0-9]+$ && "$tps_cpu" =~ ^[0-9]+$ ]] && (( tps_cpu > 0 )) && (( !rehearse )); then
    add "st-train tokens/s cuda / cpu (one process, $(nproc) cores): $(awk -v a="$tps_gpu" -v b="$tps_cpu" 'BEGIN {printf "%.1f", a / b}')x"
  fi
else
  add "st-train: skipped (no quickstart data)"
fi

# ---- benchmarks: scripts/bench_gpu.sh in what is left (less the cpu tests' share, 15 s margin) ----
bench_out="$work/bench"
bench_budget=$(( $(left) - ${ST_GPU_CPU_TESTS_S:-0} - 15 ))
if ! want bench; then
  :
elif (( rehearse )); then
  if BIN="$bench_bin" OUT="$bench_out" bash "$bench_script" --dry-run >"$logs/bench.log" 2>&1; then
    add "benchmarks: dry run ($(grep -c . "$logs/bench.log") commands; log $logs/bench.log)"
  else
    tail -n 10 "$logs/bench.log"
    fail_step "benchmarks: dry run FAILED (log $logs/bench.log)"
  fi
elif (( bench_budget >= 30 )); then
  note "bench_gpu.sh --budget $bench_budget"
  ST_ENV_QUIET=1 BIN="$bench_bin" OUT="$bench_out" timeout $(( bench_budget + 10 )) bash "$bench_script" --budget "$bench_budget" \
    >"$logs/bench.log" 2>&1
  rc=$?
  if (( rc == 0 )) && [ -s "$bench_out/tables.md" ]; then
    add "benchmarks: done (tables below; raw CSVs and logs in $bench_out)"
  else
    tail -n 20 "$logs/bench.log"
    fail_step "benchmarks: FAILED (exit $rc; log $logs/bench.log)"
  fi
else
  add "benchmarks: skipped (time budget: $(left) s left)"
fi

# ---- the cpu tests last, in what is left of the budget (CI runs them too) --------------------
if ! want cpu-tests; then
  :
elif [ "$mode" = bundle ]; then
  add "ctest -L cpu: not in a bundle (CI runs them)"
elif (( $(left) > 30 )); then
  l=$(limit 240)
  note "ctest -L cpu (at most $l s)"
  timeout "$l" ctest --test-dir "$build" -L cpu -j 8 --timeout 300 >"$logs/ctest-cpu.log" 2>&1
  rc=$?
  line=$(grep -E "tests passed, [0-9]+ tests failed out of" "$logs/ctest-cpu.log" | tail -n 1)
  if (( rc == 0 )); then add "ctest -L cpu: $line"
  else fail_step "ctest -L cpu: FAILED (exit $rc; ${line:-no summary}; log $logs/ctest-cpu.log)"; fi
else
  add "ctest -L cpu: skipped (out of time budget)"
fi

# ---- summary ---------------------------------------------------------------------------------
echo
echo "==== GPU suite summary ($gpu_name; $mode; $(( $(date +%s) - start )) s of a $budget s budget) ===="
for s in "${summary[@]}"; do echo "  $s"; done
echo "  logs: $logs"
[ -s "$bench_out/tables.md" ] && (( !rehearse )) && cat "$bench_out/tables.md"
if (( failed_steps > 0 )); then
  echo "  $failed_steps step(s) failed"
  exit 1
fi
echo "  all steps passed"
