#!/usr/bin/env bash
# st-train over a split of 3000 tiny shards under an open-file limit of 256, with the default
# data.max_open_files: two epochs of training, validation and test, to the end. Then a limit
# too small for the bound: the error names the limit and the way out.
#   tests/data/many_shards_train.sh BUILD_DIR
set -euo pipefail
build="$1"
work="$(mktemp -d /tmp/st-many.XXXXXX)"
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1 ST_PROGRESS=plain
"$build/launch/st-data" listops --out "$work/data" --train 18000 --val 600 --test 600 --shard-size 6 \
  --max-len 32 --min-len 8 --max-depth 3 --max-args 3 --seed 2 --threads 1 --quiet
[ "$(ls "$work"/data/train-*.h5 | wc -l)" = 3000 ] || { echo "FAIL: expected 3000 training shards"; exit 1; }
train() {  # train NAME LIMIT [st-train options...]
  local name="$1" limit="$2"
  shift 2
  (ulimit -n "$limit" && exec "$build/launch/st-train" "$(dirname "$0")/../../configs/quickstart.yaml" \
    --set run_dir="$work/$name" --set "data.train=$work/data/train-*.h5" --set "data.val=$work/data/val-*.h5" \
    --set "data.test=$work/data/test-*.h5" --set model.d_model=16 --set model.heads=2 --set model.d_ff=32 \
    --set train.log_every=500 "$@") > "$work/$name.out" 2>&1
}
fail() { echo "FAIL: $1"; cat "$work/$2.out"; exit 1; }
# 18000 examples / batch 32 = 562 steps per epoch: 1125 steps cross an epoch boundary.
train two_epochs 256 --set train.steps=1125 --set train.eval_every=600 || fail "training under ulimit -n 256" two_epochs
grep -q "step 1125: validation loss" "$work/two_epochs.out" || fail "no final validation" two_epochs
grep -q "^test (checkpoint of step" "$work/two_epochs.out" || fail "no test evaluation" two_epochs
rc=0
train too_low 40 --set train.steps=100 || rc=$?
[ "$rc" != 0 ] || fail "a limit of 40 open files with data.max_open_files 64 went through" too_low
grep -q "cannot open: Too many open files (errno 24): this process has [0-9]* files open and may have 40 (ulimit -n); lower data.max_open_files" \
  "$work/too_low.out" || fail "the error does not name the limit" too_low
! grep -q "HDF5-DIAG" "$work/too_low.out" || fail "HDF5's own error stack was printed" too_low
echo "many_shards_train: passed"
