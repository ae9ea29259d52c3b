#!/usr/bin/env bash
# st-train's resume options from the command line: --resume RUN_DIR without a config uses the
# run's stored config; a changed key is refused (exit 2, a config error; the key named, nothing written) unless
# --allow-change names it; an unknown --allow-change key is a usage error (exit 2) with a
# suggestion; --resume RUN_DIR without a config and without RUN_DIR/config.yaml says what is
# missing; --resume auto starts fresh in an empty run_dir and continues one with checkpoints.
#   tests/launch/resume_cli.sh BUILD_DIR
set -euo pipefail
build="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d /tmp/st-resume-cli.XXXXXX)"
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1 ST_PROGRESS=plain
fail() { echo "FAIL: $1"; cat "$2"; exit 1; }
"$build/launch/st-data" listops --out "$work/data" --train 400 --val 50 --test 50 --max-len 32 --threads 1 --quiet
common=(--set "data.train=$work/data/train-*.h5" --set "data.val=$work/data/val-*.h5" --set "data.test=$work/data/test-*.h5"
        --set model.d_model=16 --set model.heads=2 --set model.d_ff=32 --set train.eval_every=0 --set train.log_every=2)
run="$work/run"
"$build/launch/st-train" "$root/configs/quickstart.yaml" --set "run_dir=$run" "${common[@]}" --set train.steps=4 \
  > "$work/first.out" 2>&1 || fail "the first run failed" "$work/first.out"

# A changed key without --allow-change: refused, the key named, nothing written.
log_before="$(cat "$run/train.log")"
rc=0
"$build/launch/st-train" --resume "$run" --set train.steps=6 > "$work/refused.out" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "a changed train.steps exited with $rc (2 expected: a config error)" "$work/refused.out"
grep -q "train.steps: 4 in the checkpoint, 6 now" "$work/refused.out" || fail "the change is not listed" "$work/refused.out"
[ "$(cat "$run/train.log")" = "$log_before" ] || fail "a refused resume wrote to train.log" "$work/refused.out"

# --resume RUN_DIR alone, with the change allowed: the stored config, continued to step 6.
"$build/launch/st-train" --resume "$run" --set train.steps=6 --allow-change train.steps > "$work/resumed.out" 2>&1 ||
  fail "--resume RUN_DIR without a config failed" "$work/resumed.out"
grep -q "resumed from $run/checkpoints/step-0*4.h5 at step 4" "$run/train.log" || fail "did not resume at step 4" "$run/train.log"
grep -q "step 6/6" "$work/resumed.out" || fail "did not train to step 6" "$work/resumed.out"
grep -q "resume: train.steps changed from 4 to 6 (--allow-change)" "$run/train.log" || fail "the change is not logged" "$run/train.log"

# Usage errors: exit 2, naming what is wrong.
rc=0
"$build/launch/st-train" --resume "$run" --allow-change model.d_modle > "$work/typo.out" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "an unknown --allow-change key exited with $rc (2 expected)" "$work/typo.out"
grep -q "unknown key 'model.d_modle'; did you mean 'model.d_model'" "$work/typo.out" || fail "no suggestion" "$work/typo.out"
rc=0
"$build/launch/st-train" --resume "$work/nowhere" > "$work/nowhere.out" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "--resume of a directory without config.yaml exited with $rc (2 expected)" "$work/nowhere.out"
grep -q "$work/nowhere/config.yaml, which does not exist" "$work/nowhere.out" || fail "does not name config.yaml" "$work/nowhere.out"

# --resume auto: fresh in an empty run_dir, then continued.
auto="$work/auto"
"$build/launch/st-train" "$root/configs/quickstart.yaml" --set "run_dir=$auto" "${common[@]}" --set train.steps=2 \
  --resume auto > "$work/auto1.out" 2>&1 || fail "--resume auto in an empty run_dir failed" "$work/auto1.out"
grep -q "resume auto: no step checkpoint in" "$auto/train.log" || fail "auto did not say it starts fresh" "$auto/train.log"
"$build/launch/st-train" "$root/configs/quickstart.yaml" --set "run_dir=$auto" "${common[@]}" --set train.steps=4 \
  --allow-change train.steps --resume auto > "$work/auto2.out" 2>&1 || fail "--resume auto of a run failed" "$work/auto2.out"
grep -q "holds step checkpoints: resuming" "$auto/train.log" || fail "auto did not resume" "$auto/train.log"
grep -q "resumed from $auto/checkpoints/step-0*2.h5 at step 2" "$auto/train.log" || fail "auto resumed elsewhere" "$auto/train.log"
echo "resume_cli: passed"
