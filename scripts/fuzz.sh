#!/usr/bin/env bash
# A timed fuzzing session: builds the fuzz targets (tests/fuzz/fuzz_*.cpp) with clang, libFuzzer,
# AddressSanitizer and UndefinedBehaviorSanitizer in ./build-fuzz (BUILD_DIR_FUZZ), then runs
# each target from its committed seed corpus (tests/fuzz/corpus/<target>/) for a fixed number of
# inputs with a fixed seed, so that a session is reproducible. New inputs that reached new code go
# to build-fuzz/corpus/<target>/ (not committed).
#
# A crash, a sanitizer report, a leak, an input that takes over 20 s or one that allocates 1 GiB at
# once fails the script; the input is kept in build-fuzz/crashes/ with the command that
# reproduces it (add it to the corpus with the fix). One exception: shard and checkpoint mutate
# the bytes of HDF5 files, and so reach defects of the HDF5 library's own parser (1.10: reads past
# a buffer, endless loops on a damaged global heap) that no code of ours can prevent. Those two run
# in libFuzzer's fork mode, which carries on past a failing input; afterwards each failing input
# is replayed, and it fails the script unless its report places the fault inside libhdf5 or the
# read watchdog (data/h5_watchdog.h) ended it. Library defects are counted and kept in
# build-fuzz/library-defects/; an out-of-memory or timeout input that passes when replayed alone
# (a fork-mode job's memory grows over many inputs) goes to build-fuzz/not-reproduced/. Our own handling of hostile but well-formed shards is fuzzed by
# shard_fields, strictly.
#
#   bash scripts/fuzz.sh                  # every target, CI's session
#   bash scripts/fuzz.sh shard config     # some targets
#   FUZZ_SCALE=20 bash scripts/fuzz.sh    # 20 times the inputs of each target
#   FUZZ_SEED=7 bash scripts/fuzz.sh      # another seed (CI uses 1)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh fuzz

build_dir="${BUILD_DIR_FUZZ:-build-fuzz}"
jobs="${JOBS:-$(nproc)}"
seed="${FUZZ_SEED:-1}"
scale="${FUZZ_SCALE:-1}"
# Inputs per target in one session at scale 1, set from each target's speed on 2 cores so that
# every target gets a comparable share of about 2.5 minutes (FUZZ_SCALE=2 for the longer session
# of about 5).
declare -A runs=([shard]=750 [checkpoint]=300 [shard_fields]=1500 [safetensors]=15000 [config]=2000
                 [tsv]=5000 [png]=15000)
library_parsed=" shard checkpoint "  # byte-level HDF5 targets (fork mode, see above)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(shard_fields safetensors config tsv png shard checkpoint)
for t in "${targets[@]}"; do
  [ -n "${runs[$t]:-}" ] || { echo "fuzz: unknown target '$t' (known: ${!runs[*]})" >&2; exit 2; }
done

echo "fuzz: configuring $build_dir (clang, libFuzzer, address, undefined; CUDA off)"
CC=clang CXX=clang++ cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1" \
  -DST_CUDA=OFF -DST_NATIVE=OFF -DST_BUILD_TESTS=OFF -DST_BUILD_BENCH=OFF -DST_FUZZ=ON \
  -DST_SANITIZE=address,undefined -DST_WERROR="${ST_WERROR:-OFF}" \
  > "$build_dir.configure.log" 2>&1 || { cat "$build_dir.configure.log"; exit 1; }
echo "fuzz: compiling ${targets[*]/#/fuzz_} with $jobs jobs"
cmake --build "$build_dir" -j "$jobs" --target "${targets[@]/#/fuzz_}"

# Leaks are checked after every input; suppressions are for third-party code only, as in the
# sanitizer tests (scripts/test_sanitizers.sh).
export ASAN_OPTIONS="halt_on_error=1:fast_unwind_on_malloc=0"
export LSAN_OPTIONS="suppressions=$root/tests/sanitizers/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export OMP_NUM_THREADS=1
failed=()
defects=0
limits=(-rss_limit_mb=2560 -malloc_limit_mb=1024)  # one allocation of 1 GiB from a small input fails

# classify_input TARGET FILE: 0 when FILE fails inside the HDF5 library (a report whose first
# frame outside the sanitizer runtime and libc is in libhdf5, or the read watchdog); 2 when an
# out-of-memory or timeout input passes when replayed alone; else 1 (ours).
classify_input() {
  local target="$1" file="$2" log rc=0
  log="$(mktemp)"
  ST_HDF5_READ_LIMIT=3 timeout 120 "$build_dir/tests/fuzz/fuzz_$target" -timeout=20 "${limits[@]}" "$file" > "$log" 2>&1 || rc=$?
  if [ "$rc" = 0 ]; then
    rm -f "$log"
    case "$(basename "$file")" in
      # A fork-mode job's memory grows over many inputs (the library's own leaks are suppressed,
      # not freed) and a loaded machine is slow: an input that passes alone under the same limits
      # was the job's state or the machine's, not the input's.
      *-oom-*|*-timeout-*) echo "fuzz: $file passes when replayed alone (kept, not a failure)"; return 2 ;;
      *) echo "fuzz: $file did not fail when replayed"; return 1 ;;
    esac
  fi
  if grep -q "a read has not returned after 3 s" "$log"; then
    rm -f "$log"; return 0
  fi
  # The first frame of ours or a library's in a stack trace (from the report's first line on).
  first_frame() {
    grep -E '^ +#[0-9]+ 0x' | grep -vE '__interceptor_|__asan|__sanitizer|__lsan| fuzzer::|libclang_rt|compiler-rt|/libc\.so|in (malloc|calloc|realloc|free|operator new)' | head -n 1
  }
  local fault owner
  fault="$(first_frame < "$log")"
  # Memory the library overran must not be ours: a buffer of ours (on our stack, a global, or
  # allocated by our code) that HDF5 writes past is our defect (too small for what we read).
  # ASan records every heap allocation, the library's included, so a heap address with no
  # allocation behind it (a wild pointer, a SEGV) was computed by the faulting code; a huge
  # allocation has no victim at all. In those cases the faulting frame decides.
  owner="$fault"
  if grep -q "allocated by thread" "$log"; then
    owner="$(sed -n '/allocated by thread/,$p' "$log" | first_frame)"
  fi
  # Leaks the library makes are suppressed (tests/sanitizers/lsan.supp): a reported one is ours.
  if grep -qE "runtime error:|LeakSanitizer|global-buffer-overflow|stack-buffer|stack-use" "$log" ||
     ! grep -q "libhdf5" <<< "$fault" || ! grep -q "libhdf5" <<< "$owner"; then
    tail -n 40 "$log"; rm -f "$log"; return 1
  fi
  rm -f "$log"
  return 0
}

for t in "${targets[@]}"; do
  n=$((runs[$t] * scale))
  new="$build_dir/corpus/$t"
  crashes="$build_dir/crashes"
  mkdir -p "$new" "$crashes" "$build_dir/library-defects"
  mode=()
  [[ "$library_parsed" == *" $t "* ]] && mode=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  echo "fuzz: $t, $n inputs from seed $seed${mode:+ (fork mode)}"
  start=$SECONDS
  rm -f "$crashes/$t-"*
  rc=0
  # The read watchdog ends a read that has not returned after 2 s with an abort, which libFuzzer
  # records as a crash with its input; the replay (classify_input) tells a library loop apart.
  ST_HDF5_READ_LIMIT=2 "$build_dir/tests/fuzz/fuzz_$t" "${mode[@]}" -seed="$seed" -runs="$n" -timeout=20 "${limits[@]}" \
    -report_slow_units=100000 -print_final_stats=1 -artifact_prefix="$crashes/$t-" \
    "$new" "tests/fuzz/corpus/$t" > "$build_dir/fuzz-$t.log" 2>&1 || rc=$?
  ours=0
  if [ ${#mode[@]} -gt 0 ]; then  # keep going past inputs that fail inside the HDF5 library
    files=0
    for f in "$crashes/$t-"{crash,leak,oom,timeout}-*; do
      [ -e "$f" ] || continue
      files=$((files + 1))
      verdict=0
      classify_input "$t" "$f" || verdict=$?
      case "$verdict" in
        0) defects=$((defects + 1)); mv "$f" "$build_dir/library-defects/" ;;
        2) mkdir -p "$build_dir/not-reproduced"; mv "$f" "$build_dir/not-reproduced/" ;;
        *) ours=$((ours + 1)) ;;
      esac
    done
    # Every failure the fuzzer counted must have left an input to classify.
    counts="$(grep -oE 'oom/timeout/crash: [0-9]+/[0-9]+/[0-9]+' "$build_dir/fuzz-$t.log" | tail -n 1 |
              grep -oE '[0-9]+/[0-9]+/[0-9]+' || true)"
    counted=0  # "a/b/c" -> a + b + c
    IFS=/ read -r -a parts <<< "${counts:-0/0/0}"
    for c in "${parts[@]}"; do counted=$((counted + c)); done
    if [ "$counted" -gt "$files" ]; then
      echo "fuzz: $t: $counted failures counted but only $files inputs kept"
      ours=$((ours + 1))
    fi
    [ "$ours" = 0 ] && rc=0
  fi
  if [ ${#mode[@]} -gt 0 ]; then  # fork mode's status lines: "#N: cov: ... corp: M ..."
    summary="$(grep -E '^#[0-9]+: cov' "$build_dir/fuzz-$t.log" | tail -n 1 |
               sed -E 's/^#([0-9]+):.* corp: ([0-9]+).*/\1 inputs, corpus of \2/' || true)"
  else
    summary="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$build_dir/fuzz-$t.log" | grep -o '[0-9]*$' | tail -n 1 || true) inputs, $(grep -o 'stat::new_units_added: *[0-9]*' "$build_dir/fuzz-$t.log" | grep -o '[0-9]*$' | tail -n 1 || true) new"
  fi
  if [ "$rc" = 0 ]; then
    echo "fuzz: $t clean after $((SECONDS - start)) s ($summary)"
  else
    tail -n 60 "$build_dir/fuzz-$t.log"
    echo "fuzz: $t FAILED; the input is in $crashes/ (reproduce: $build_dir/tests/fuzz/fuzz_$t FILE)"
    failed+=("$t")
  fi
done
[ "$defects" = 0 ] || echo "fuzz: $defects inputs fail inside the HDF5 library itself (kept in $build_dir/library-defects/)"
[ ${#failed[@]} -eq 0 ] || { echo "fuzz: failed: ${failed[*]}"; exit 1; }
echo "fuzz: all ${#targets[@]} targets clean"
