#!/usr/bin/env bash
# The command line of every program, one rule (docs/design.md, "Exit codes"): --help prints the
# usage and exits 0; --version prints the version, commit, build type and the CPU, CUDA, cuDNN and
# NCCL parts of the build and exits 0; an unknown option exits 2 with a message naming it. Then
# st-train's exit codes by kind of error, with 1 process and with 2 under mpirun, each message
# printed once: a config error 2, training data that is missing 65; st-bench-dist's size
# suffixes; st-tiny-train's arguments.
#   tests/launch/cli.sh BUILD_DIR MPIEXEC
set -euo pipefail
build="$1"
mpiexec="$2"
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d /tmp/st-cli.XXXXXX)"
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1 ST_PROGRESS=plain
fail() { echo "FAIL: $1"; [ -z "${2:-}" ] || cat "$2"; exit 1; }
run() {  # run OUT COMMAND...: sets rc
  local out="$1"
  shift
  rc=0
  timeout 60 "$@" > "$out" 2>&1 || rc=$?
}

programs=(launch/st-train launch/st-eval launch/st-import launch/st-data launch/st-tiny-train
          bench/st-bench bench/st-bench-attention bench/st-bench-loader bench/st-bench-core bench/st-bench-dist)
for p in "${programs[@]}"; do
  name="$(basename "$p")"
  if [ ! -x "$build/$p" ]; then
    case "$p" in bench/*) echo "$name: not built (ST_BUILD_BENCH off)"; continue ;; esac
    fail "$build/$p is not built"
  fi
  run "$work/help" "$build/$p" --help
  [ "$rc" = 0 ] || fail "$name --help exited $rc" "$work/help"
  grep -qi "usage" "$work/help" || fail "$name --help prints no usage" "$work/help"
  run "$work/version" "$build/$p" --version
  [ "$rc" = 0 ] || fail "$name --version exited $rc" "$work/version"
  for part in "^$name [0-9]" "commit " "Release\|Debug\|RelWithDebInfo" "CPU " "CUDA " "cuDNN" "NCCL"; do
    grep -q "$part" "$work/version" || fail "$name --version lacks '$part'" "$work/version"
  done
  run "$work/bogus" "$build/$p" --no-such-option
  [ "$rc" = 2 ] || fail "$name --no-such-option exited $rc (2 expected)" "$work/bogus"
  # The bad option is named, or first a required one that is missing (CLI11 checks those first).
  grep -q "no-such-option\|is required" "$work/bogus" || fail "$name: no usage error message" "$work/bogus"
  echo "$name: --help 0, --version ($(head -c 60 "$work/version")...), bad option 2"
done

# Arguments that were once read wrongly.
run "$work/tiny" "$build/launch/st-tiny-train" abc
[ "$rc" = 2 ] || fail "st-tiny-train abc exited $rc (2 expected)" "$work/tiny"
run "$work/tiny" "$build/launch/st-tiny-train" 10 16 no_such_attention
[ "$rc" = 2 ] || fail "st-tiny-train with an unknown attention exited $rc (2 expected)" "$work/tiny"
if [ -x "$build/bench/st-bench-dist" ]; then
run "$work/loader" "$build/bench/st-bench-loader"
[ "$rc" = 2 ] || fail "st-bench-loader without a glob exited $rc (2 expected)" "$work/loader"
run "$work/dist" "$build/bench/st-bench-dist" --n 2k --d 16 --steps 1
[ "$rc" = 0 ] || fail "st-bench-dist --n 2k on 1 process exited $rc" "$work/dist"
grep -q "N 2048," "$work/dist" || fail "st-bench-dist did not read --n 2k as 2048" "$work/dist"
run "$work/dist3" "$mpiexec" -np 3 --oversubscribe --allow-run-as-root --bind-to none \
  "$build/bench/st-bench-dist" --n 96 --d 16 --steps 1
[ "$rc" = 0 ] || fail "st-bench-dist on 3 processes exited $rc" "$work/dist3"
grep -q "DP 3 x SP 1" "$work/dist3" && grep -q "DP 1 x SP 3" "$work/dist3" || fail "st-bench-dist on 3 processes lacks a layout" "$work/dist3"
fi
echo "st-tiny-train, st-bench-loader and st-bench-dist arguments: checked"

# st-train's exit codes by kind, printed once.
"$build/launch/st-data" listops --out "$work/data" --train 200 --val 0 --test 0 --max-len 32 --threads 1 --quiet
common=(--set "data.train=$work/data/train-*.h5" --set data.val= --set data.test= --set train.steps=2)
for np in 1 2; do
  launcher=()
  [ "$np" = 1 ] || launcher=("$mpiexec" -np 2 --oversubscribe --allow-run-as-root --bind-to none)
  run "$work/config$np" "${launcher[@]}" "$build/launch/st-train" "$root/configs/quickstart.yaml" "${common[@]}" \
    --set "run_dir=$work/run$np" --set model.heads=3
  [ "$rc" = 2 ] || fail "a config error exited $rc with $np process(es) (2 expected)" "$work/config$np"
  [ "$(grep -c "model.heads" "$work/config$np")" = 1 ] || fail "the config error is not printed once ($np)" "$work/config$np"
  run "$work/key$np" "${launcher[@]}" "$build/launch/st-train" "$root/configs/quickstart.yaml" --set train.stepz=3
  [ "$rc" = 2 ] || fail "an unknown key exited $rc with $np process(es) (2 expected)" "$work/key$np"
  [ "$(grep -c "train.stepz" "$work/key$np")" = 1 ] || fail "the unknown key is not named once ($np)" "$work/key$np"
  run "$work/data$np" "${launcher[@]}" "$build/launch/st-train" "$root/configs/quickstart.yaml" "${common[@]}" \
    --set "run_dir=$work/run$np" --set "data.train=$work/nowhere/train-*.h5"
  [ "$rc" = 65 ] || fail "missing training data exited $rc with $np process(es) (65 expected)" "$work/data$np"
  [ "$(grep -c "nowhere" "$work/data$np")" = 1 ] || fail "the missing data is not named once ($np)" "$work/data$np"
  [ ! -e "$work/run$np" ] || fail "a refused start wrote its run directory ($np)"
  echo "st-train, $np process(es): config error 2, unknown key 2, missing data 65, each printed once"
done
echo "cli: passed"
