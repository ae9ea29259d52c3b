#!/usr/bin/env bash
# st-train --dry-run plans without the data when the config gives the sizes the data would:
# configs/lra/text.yaml, whose data is not in the repository, first without them (exit 2 naming
# every missing size), then with them (the estimate: parameters, tokens and FLOPs per step,
# memory per process). Neither writes anything. With 2 processes under mpirun the estimate is
# printed once.
#   tests/launch/dry_run.sh BUILD_DIR MPIEXEC
set -euo pipefail
build="$1"
mpiexec="$2"
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d /tmp/st-dry-run.XXXXXX)"
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1 ST_PROGRESS=plain
fail() { echo "FAIL: $1"; [ -z "${2:-}" ] || cat "$2"; exit 1; }
cd "$work"  # the config's data paths are relative: nothing matches here
args=("$root/configs/lra/text.yaml" --dry-run --set "run_dir=$work/run")

rc=0
"$build/launch/st-train" "${args[@]}" > missing.out 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "sizes missing: exit $rc (2 expected)" missing.out
grep -q "matches no file" missing.out || fail "the absent data is not named" missing.out
grep -q "model.vocab_size, model.num_classes" missing.out || fail "the missing sizes are not listed" missing.out
grep -q "max_len" missing.out && fail "model.max_len is given by the config but listed" missing.out

sizes=(--set model.vocab_size=257 --set model.num_classes=2)
"$build/launch/st-train" "${args[@]}" "${sizes[@]}" > plan.out 2>&1 || fail "the dry run with sizes failed" plan.out
for expected in "no training data" "parameters: " "tokens per step: 128000 positions (batch 32 x seq_len 4000" \
                "training FLOPs per step: " "AdamW moments" "activations per micro-batch"; do
  grep -qF "$expected" plan.out || fail "the estimate lacks '$expected'" plan.out
done
[ ! -e "$work/run" ] || fail "a dry run wrote its run directory"

"$mpiexec" -np 2 --oversubscribe --allow-run-as-root --bind-to none \
  "$build/launch/st-train" "${args[@]}" "${sizes[@]}" --set distributed.sp=2 > plan2.out 2>&1 ||
  fail "the 2-process dry run failed" plan2.out
[ "$(grep -c "training FLOPs per step" plan2.out)" = 1 ] || fail "the estimate is not printed once" plan2.out
grep -q "dp 1 x sp 2; each SP rank holds 2000 of 4000 tokens" plan2.out || fail "the layout is not shown" plan2.out
[ ! -e "$work/run" ] || fail "a 2-process dry run wrote its run directory"
echo "dry_run: passed ($(grep "training FLOPs" plan.out))"
