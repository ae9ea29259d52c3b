#!/usr/bin/env bash
# The tests of labels cpu and mpi (less the label slow) under AddressSanitizer,
# UndefinedBehaviorSanitizer and LeakSanitizer: a CPU-only build in ./build-asan (BUILD_DIR_ASAN)
# with -fsanitize=address,undefined, no recovery, leak checking at exit. Suppressions, for
# third-party code only, are in tests/sanitizers/lsan.supp. Extra arguments go to ctest
# (e.g. -R Config).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh

build_dir="${BUILD_DIR_ASAN:-build-asan}"
jobs="${JOBS:-$(nproc)}"
echo "sanitizers: configuring $build_dir (address, undefined; CUDA off)"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS=-g1 -DCMAKE_C_FLAGS=-g1 \
  -DST_CUDA=OFF -DST_NATIVE=OFF -DST_BUILD_BENCH=OFF -DST_SANITIZE=address,undefined \
  -DST_WERROR="${ST_WERROR:-OFF}" > "$build_dir.configure.log" 2>&1 || { cat "$build_dir.configure.log"; exit 1; }
echo "sanitizers: compiling with $jobs jobs"
cmake --build "$build_dir" -j "$jobs"

# Leak checking at every process exit, with suppressions for third-party code only
# (tests/sanitizers/lsan.supp). fast_unwind_on_malloc=0: Open MPI, OpenBLAS and libgomp are built
# without frame pointers, so the fast unwinder stops in them and a suppression by library could
# not match; the DWARF unwinder gives whole stacks. Open MPI unloads its components at
# MPI_Finalize, which would leave their frames unnamed: disable_dlclose keeps them loaded.
supp="$root/tests/sanitizers/lsan.supp"
export ASAN_OPTIONS="detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:halt_on_error=1:fast_unwind_on_malloc=0"
export LSAN_OPTIONS="suppressions=$supp:fast_unwind_on_malloc=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export OMPI_MCA_mca_base_component_disable_dlclose=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Open MPI's launcher and helpers are not ours and not instrumented: the sanitizer runtime is
# loaded only into our programs (they link it), so mpirun itself runs unchecked.
ctest --test-dir "$build_dir" --output-on-failure --timeout 900 -j "$jobs" -L 'cpu|mpi' -LE slow "$@"
