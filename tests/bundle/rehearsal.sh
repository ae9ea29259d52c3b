#!/usr/bin/env bash
# The portable bundle on this machine as on one without our packages (label bundle):
#   1. scripts/bundle.sh packs the normal build (BUILD_DIR; nothing compiles);
#   2. in a private mount namespace, the bundle is unpacked; the system's copy of every library
#      it carries, Open MPI's installation and mpirun are hidden (a /dev/null or an empty tmpfs
#      mounted over them: loading one fails with "file too short"); the CUDA libraries are moved
#      to a Python-wheel layout (venv/lib/python3.X/site-packages/nvidia/*/lib) and hidden where
#      they were;
#   3. from the bundle, in another directory: --version, data generation, 20 steps with
#      `mpirun -np 2`, a resume to 30 steps, an evaluation; a CUDA test binary starts and skips
#      with the reason (no GPU here);
#   4. the GPU suite's script, from the bundle file, rehearsed (tests/gpu/run.sh --bundle FILE
#      --rehearse): its CUDA tests run from the bundle and skip with their reason; and the same
#      script, with a stand-in nvidia-smi that lists a GPU, fails because no test could use it;
#   5. a CUDA library missing from the wheels, and a library missing from the bundle, each fail
#      with st-env's message naming it.
# Skips (77) with the reason where mount namespaces are refused.
# Usage: rehearsal.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)

if [ -z "${ST_REHEARSAL_INSIDE:-}" ]; then
  if [ ! -x "$build/tests/st_cuda_tests" ]; then
    echo "SKIP: $build has no CUDA backend (no nvcc when it was configured); the rehearsal checks the CUDA libraries' lookup and the GPU suite, which need one"
    exit 77
  fi
  if ! why=$(unshare -m --propagation private true 2>&1); then
    echo "SKIP: this machine refuses a private mount namespace (unshare -m: ${why:-no reason given}); the bundle rehearsal needs one to hide the system's libraries"
    exit 77
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "SKIP: mounting over the system's libraries needs root"
    exit 77
  fi
  work=$(mktemp -d "${TMPDIR:-/tmp}/st-bundle-test.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  bash "$src/scripts/bundle.sh" --from-build "$build" --out "$work/bundle.tar.xz" --level 1
  ST_REHEARSAL_INSIDE=1 unshare -m --propagation private bash "$0" "$src" "$build" "$work"
  exit $?
fi

# ---- inside the private mount namespace ---------------------------------------------------------
work=$3
step() { echo; echo "rehearsal: $*"; }
fail() { echo "rehearsal: FAILED: $*" >&2; exit 1; }

step "unpacking"
mkdir -p "$work/unpacked"
tar -C "$work/unpacked" -xJf "$work/bundle.tar.xz"
B=$(echo "$work"/unpacked/simpletron-*)
[ -x "$B/bin/st-env" ] || fail "no bin/st-env in the bundle"
meta="$B/share/simpletron/bundle"

step "moving the CUDA libraries to a Python-wheel layout"
python3 -m venv --without-pip "$work/venv"
site=$("$work/venv/bin/python3" -c 'import site; print(site.getsitepackages()[0])')
wheel_dir() {  # SONAME -> the wheel that carries it
  case "$1" in
    libcudart*) echo nvidia/cuda_runtime/lib ;;
    libcublas*) echo nvidia/cublas/lib ;;
    libcudnn*) echo nvidia/cudnn/lib ;;
    libnccl*) echo nvidia/nccl/lib ;;
    libnvrtc*) echo nvidia/cuda_nvrtc/lib ;;
    *) echo nvidia/other/lib ;;
  esac
}
system_path() {  # SONAME -> the system's file, through the loader's cache or the toolkit
  local p
  p=$(ldconfig -p | awk -v n="$1" '$1 == n && /x86-64/ { print $NF; exit }')
  [ -z "$p" ] && [ -e "/usr/local/cuda/lib64/$1" ] && p="/usr/local/cuda/lib64/$1"
  echo "$p"
}
moved=()
while read -r soname; do
  p=$(system_path "$soname")
  [ -n "$p" ] || fail "this machine has no $soname to move"
  dir="$site/$(wheel_dir "$soname")"
  mkdir -p "$dir"
  # cuDNN loads its engine libraries from beside itself: they move together.
  files=("$p")
  [[ "$soname" == libcudnn* ]] && files=("$(dirname "$p")"/libcudnn*.so.*)
  for f in "${files[@]}"; do
    name=$(basename "$f")
    [ -e "$dir/$name" ] && continue
    real=$(readlink -f "$f")
    touch "$dir/$name"
    mount --bind "$real" "$dir/$name"
    moved+=("$real")
  done
done < "$meta/cuda-libraries.txt"
for real in "${moved[@]}"; do mount --bind /dev/null "$real"; done
echo "rehearsal: ${#moved[@]} CUDA library files now only in $site/nvidia"

step "hiding the system's copies of the bundle's libraries and Open MPI"
hidden=0
while IFS=$'\t' read -r soname _ source; do
  [ -e "$source" ] && { mount --bind /dev/null "$source"; hidden=$((hidden + 1)); }
done < "$meta/libraries.tsv"
for d in /usr/lib/x86_64-linux-gnu/openmpi /usr/lib/x86_64-linux-gnu/pmix2 /usr/share/openmpi /etc/openmpi; do
  [ -d "$d" ] && mount -t tmpfs -o ro,size=1m none "$d"
done
for f in /usr/bin/orterun /usr/bin/orted /usr/bin/ompi_info; do
  [ -e "$f" ] && mount --bind /dev/null "$(readlink -f "$f")"
done
echo "rehearsal: $hidden system libraries hidden, and Open MPI's directories"
first_source=$(awk -F'\t' 'NR == 1 { print $3 }' "$meta/libraries.tsv")
[ ! -s "$first_source" ] || fail "the system's $first_source is still visible"

export PATH="$work/venv/bin:$PATH"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
unset LD_LIBRARY_PATH
mkdir -p "$work/run" && cd "$work/run"

step "st-train --version from the bundle"
"$B/bin/st-train" --version 2> env.err | tee version.out
cat env.err
grep -q "^st-train " version.out || fail "st-train --version printed no version"
grep -q "python3 wheel" env.err || fail "st-env did not take the CUDA libraries from the wheels: $(cat env.err)"
for p in st-eval st-data st-import st-bench; do
  ST_ENV_QUIET=1 "$B/bin/$p" --version | grep -q "^$p " || fail "$p --version"
done

step "generating data"
"$B/bin/st-data" listops --out data --train 512 --val 64 --test 64 --max-len 32 --min-len 8 \
  --max-depth 3 --max-args 3 --seed 1 --quiet

common=(--set data.train='data/train-*.h5' --set data.val='data/val-*.h5' --set data.test='data/test-*.h5'
        --set run_dir=run --set train.eval_every=10 --set train.log_every=5 --set train.checkpoint_every=10
        --set optimizer.warmup=5 --set threads=1)
step "training 20 steps with mpirun -np 2 (the bundle's mpirun)"
"$B/bin/mpirun" -np 2 --oversubscribe "$B/bin/st-train" "$B/share/simpletron/configs/quickstart.yaml" \
  "${common[@]}" --set train.steps=20 > train.out 2>&1 || { cat train.out; fail "training from the bundle"; }
tail -n 5 train.out
[ -f run/results.json ] || fail "no run/results.json"
ls run/checkpoints/step-*20*.h5 >/dev/null 2>&1 || { ls run/checkpoints; fail "no step-20 checkpoint"; }

step "resuming to 30 steps"
"$B/bin/mpirun" -np 2 --oversubscribe "$B/bin/st-train" "$B/share/simpletron/configs/quickstart.yaml" \
  "${common[@]}" --set train.steps=30 --resume run --allow-change train.steps > resume.out 2>&1 || { cat resume.out; fail "resume from the bundle"; }
tail -n 3 resume.out
grep -qi "resum" resume.out || fail "the second run did not say it resumed"
ls run/checkpoints/step-*30*.h5 >/dev/null 2>&1 || { ls run/checkpoints; fail "no step-30 checkpoint"; }

step "evaluating"
"$B/bin/st-eval" --checkpoint run/checkpoints/best.h5 --data 'data/test-*.h5' > eval.out 2>&1 ||
  { cat eval.out; fail "st-eval from the bundle"; }
cat eval.out | tail -n 3
grep -qi "accuracy" eval.out || fail "st-eval printed no accuracy"

step "a CUDA test binary starts and reports that there is no GPU"
if ls /dev/nvidia* >/dev/null 2>&1; then
  echo "rehearsal: this machine has NVIDIA device files; the GPU suite (tests/gpu/run.sh) is the check here"
else
  "$B/bin/st_cuda_tests" --gtest_brief=1 > cuda.out 2>&1 || { tail -n 30 cuda.out; fail "st_cuda_tests from the bundle"; }
  grep -q "no CUDA device: none is visible" cuda.out || { tail -n 20 cuda.out; fail "st_cuda_tests gave no reason for skipping"; }
  grep -E "PASSED|SKIPPED" cuda.out | head -n 3
fi

step "the GPU suite from the bundle file, rehearsed: tests/gpu/run.sh --bundle FILE --rehearse"
# It unpacks the file again and runs the bundle's own copy of the script: every CUDA test binary
# (two of them under the bundle's mpirun) must skip with its reason, the GPU run goes to the CPU.
ST_GPU_UNPACK_DIR="$work/gpu" ST_GPU_BUDGET_S=240 bash "$src/tests/gpu/run.sh" --bundle "$work/bundle.tar.xz" \
  --rehearse > gpu.out 2>&1 || { cat gpu.out; fail "the GPU suite's rehearsal from the bundle"; }
sed -n '/==== GPU suite summary/,$p' gpu.out
for t in st_cuda_tests st_cuda_op_tests st_cuda_train_tests st_cuda_fused_attention_tests st_device_routing_tests \
         st_nccl_tests st_cuda_dp_tests; do
  grep -qE "^  $t: [0-9]+ passed, [1-9][0-9]* skipped, 0 failed \(skipped: .*(no CUDA device|CUDA device per local rank)" gpu.out ||
    fail "$t did not run from the bundle and skip with its reason"
done
grep -q "st-train gpu run on cpu: 20 steps" gpu.out || fail "the suite's training run"
grep -q "all steps passed" gpu.out || fail "the suite's summary"

step "the GPU suite fails when nvidia-smi lists a GPU that CUDA cannot see"
mkdir -p "$work/fake-bin"
printf '#!/bin/sh\necho "NVIDIA H200"\n' > "$work/fake-bin/nvidia-smi"
chmod +x "$work/fake-bin/nvidia-smi"
rc=0
PATH="$work/fake-bin:$PATH" ST_GPU_STEPS=tests bash "$(echo "$work"/gpu/simpletron-*/share/simpletron/tests/gpu/run.sh)" \
  > gpu-lie.out 2>&1 || rc=$?
sed -n '/==== GPU suite summary/,$p' gpu-lie.out
[ "$rc" = 1 ] || { cat gpu-lie.out; fail "the suite exited $rc with a GPU listed and none usable (expected 1)"; }
grep -q "st_cuda_tests: FAILED: nvidia-smi lists NVIDIA H200 but the tests found no CUDA device" gpu-lie.out ||
  fail "the suite did not name the GPU that the tests could not use"
rm -rf "$work/gpu"

step "a CUDA library missing from the wheels"
victim=$(grep -m 1 cublasLt "$meta/cuda-libraries.txt" || head -n 1 "$meta/cuda-libraries.txt")
mount --bind /dev/null "$site/$(wheel_dir "$victim")/$victim"
if "$B/bin/st-train" --version > missing.out 2>&1; then cat missing.out; fail "st-train ran without $victim"; fi
cat missing.out
grep -q "error: $victim (needed by the bundle's CUDA code) was not found. Looked in: .*$site/nvidia/.*python3 wheel" missing.out ||
  fail "the message does not name $victim and the places looked in"
umount "$site/$(wheel_dir "$victim")/$victim"

step "a library missing from the bundle"
mv "$B/lib/libyaml-cpp.so.0.7" "$work/" 2>/dev/null || mv "$(ls "$B"/lib/libhdf5*.so* | head -n 1)" "$work/"
if "$B/bin/st-train" --version > incomplete.out 2>&1; then cat incomplete.out; fail "st-train ran from an incomplete bundle"; fi
cat incomplete.out
grep -q "error: the bundle in $B is incomplete: lib/.* is missing" incomplete.out || fail "the message does not name the missing library"

echo
echo "rehearsal: passed"
