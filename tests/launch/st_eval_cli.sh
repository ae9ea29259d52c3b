#!/usr/bin/env bash
# st-eval from the command line, on any machine: a tiny ListOps run trained by st-train, then
# st-eval in fp32 and bf16 (same accuracy line, losses within bf16 rounding), on --device auto,
# and the errors for a bad --device and for --device cuda where no GPU can be used.
#   tests/launch/st_eval_cli.sh BUILD_DIR
set -euo pipefail
build="$1"
work="$(mktemp -d /tmp/st-eval-cli.XXXXXX)"
trap 'rm -rf "$work"' EXIT
"$build/launch/st-data" listops --out "$work/data" --train 64 --val 16 --test 40 --max-len 32 \
  --min-len 8 --max-depth 3 --max-args 3 --seed 2 --threads 1 --quiet
"$build/launch/st-train" "$(dirname "$0")/../../configs/quickstart.yaml" \
  --set run_dir="$work/run" --set "data.train=$work/data/train-*.h5" --set "data.val=$work/data/val-*.h5" \
  --set "data.test=$work/data/test-*.h5" --set train.steps=3 --set train.eval_every=3 \
  --set train.checkpoint_every=3 --set model.d_model=16 --set model.heads=2 --set model.d_ff=32 > "$work/train.out"
ckpt="$work/run/checkpoints/best.h5"
eval=("$build/launch/st-eval" --checkpoint "$ckpt" --data "$work/data/test-*.h5")
fp32="$("${eval[@]}")"
bf16="$("${eval[@]}" --precision bf16)"
auto="$("${eval[@]}" --device auto)"
echo "$fp32"; echo "$bf16"; echo "$auto"
loss() { sed -E 's/.*loss ([0-9.]+),.*/\1/' <<< "$1"; }
grep -q "over 40 examples" <<< "$fp32" || { echo "FAIL: fp32 line"; exit 1; }
grep -q "over 40 examples" <<< "$bf16" || { echo "FAIL: bf16 line"; exit 1; }
python3 - "$(loss "$fp32")" "$(loss "$bf16")" <<'PY' || { echo "FAIL: bf16 loss is not within 2e-2 of fp32"; exit 1; }
import sys
a, b = float(sys.argv[1]), float(sys.argv[2])
sys.exit(0 if abs(a - b) <= 2e-2 * max(1.0, abs(a)) else 1)
PY
if "${eval[@]}" --device gpu > "$work/bad.out" 2>&1; then echo "FAIL: --device gpu accepted"; exit 1; fi
grep -q -- "--device: gpu not in" "$work/bad.out" || { cat "$work/bad.out"; echo "FAIL: bad --device message"; exit 1; }
if ! "${eval[@]}" --device cuda > "$work/cuda.out" 2>&1; then
  grep -q "st-eval: error: device: cuda" "$work/cuda.out" || { cat "$work/cuda.out"; echo "FAIL: --device cuda message"; exit 1; }
else
  grep -q "over 40 examples" "$work/cuda.out" || { cat "$work/cuda.out"; echo "FAIL: cuda line"; exit 1; }
fi
echo "st-eval cli: ok"
