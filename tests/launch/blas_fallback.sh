#!/usr/bin/env bash
# The CPU kernels without AVX-512: OpenBLAS picks its kernels for the CPU at run time, and
# OPENBLAS_CORETYPE forces a choice. The same short run trains with the kernels chosen for this
# CPU, then with Haswell's (AVX2, what a machine without AVX-512 gets) and Prescott's (SSE3 only).
# Each run's train.log and results.json name the kernels used. Every run's losses and gradient
# norms agree with the default's to float rounding, and its gradient norms are not all bitwise
# equal to the default's (the kernels sum in other orders and Prescott has no FMA: a run whose
# numbers never change did not use other kernels), except Haswell's on a CPU whose own kernels
# are Haswell's or Zen's (the same code).
#   tests/launch/blas_fallback.sh BUILD_DIR
set -euo pipefail
build="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d /tmp/st-blas-fallback.XXXXXX)"
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1 ST_PROGRESS=plain
fail() { echo "FAIL: $1"; [ -z "${2:-}" ] || cat "$2"; exit 1; }

"$build/launch/st-data" listops --out "$work/data" --train 256 --val 0 --test 0 --max-len 48 \
  --threads 1 --quiet > /dev/null
train() {  # NAME [CORETYPE]: 12 steps, the train loss and gradient norm logged every step
  local out="$work/$1.out"
  env ${2:+OPENBLAS_CORETYPE=$2} "$build/launch/st-train" "$root/configs/quickstart.yaml" \
    --set "run_dir=$work/$1" --set "data.train=$work/data/train-*.h5" --set data.val= --set data.test= \
    --set model.d_model=64 --set model.heads=4 --set model.d_ff=128 --set train.steps=12 \
    --set train.log_every=1 --set train.eval_every=0 --set train.checkpoint_every=0 --set threads=1 \
    > "$out" 2>&1 || fail "st-train with OPENBLAS_CORETYPE=${2:-unset}" "$out"
  grep '"split":"train"' "$work/$1/metrics.jsonl" |
    sed -E 's/.*"grad_norm":([0-9.eE+-]+).*"loss":([0-9.eE+-]+).*/\1 \2/' > "$work/$1.numbers"
  [ "$(grep -cE '^[0-9.eE+-]+ [0-9.eE+-]+$' "$work/$1.numbers")" = 12 ] ||
    fail "$1: expected 12 logged gradient norms and losses" "$work/$1/metrics.jsonl"
}
train default
grep -o "CPU matrix products: .*" "$work/default/train.log" || fail "train.log names no BLAS kernels" "$work/default/train.log"
# OpenBLAS's Zen kernels are its Haswell ones: on such a CPU forcing Haswell changes nothing.
default_core="$(sed -n 's/.*(\([A-Za-z0-9]*\) kernels).*/\1/p' "$work/default/train.log" | head -n 1)"
for core in Haswell Prescott; do
  may_equal=0
  case "$core:$default_core" in Haswell:Haswell | Haswell:Zen) may_equal=1 ;; esac
  train "$core" "$core"
  grep -q "($core kernels)" "$work/$core/train.log" ||
    fail "OPENBLAS_CORETYPE=$core: train.log does not say $core kernels ran" "$work/$core/train.log"
  grep -q "\"cpu_blas\": *\"[^\"]*($core kernels)\"" "$work/$core/results.json" ||
    fail "OPENBLAS_CORETYPE=$core: results.json does not name the kernels" "$work/$core/results.json"
  # Agreement to 1e-4 relative: far above reordered float sums, far below a wrong kernel.
  paste -d ' ' "$work/default.numbers" "$work/$core.numbers" > "$work/$core.pairs"
  awk -v core="$core" -v may_equal="$may_equal" '
    function rel(a, b) { d = a - b; if (d < 0) d = -d; return d / (a > 0 ? a : 1) }
    { g = rel($1, $3); l = rel($2, $4); if (g > worst) worst = g; if (l > worst) worst = l; if ($1 != $3) changed++ }
    END { printf "%s: 12 steps, largest relative difference from the default kernels %.2e; %d of 12 gradient norms differ\n", core, worst, changed
          exit (worst > 1e-4 || (changed == 0 && !may_equal)) }' "$work/$core.pairs" ||
    fail "$core kernels: gradient norms and losses (default, then $core) differ too much, or not at all" "$work/$core.pairs"
done
echo "PASS"
