#!/usr/bin/env bash
# A full disk (a 300 KiB tmpfs): st-data and st-train stop with the system's reason (ENOSPC),
# exit 1 without a crash, and leave no partial shard or checkpoint behind; when the disk fills
# between checkpoints, the last one written stays intact. Needs permission to
# mount a tmpfs (root in a container usually has it); skips (exit 77) otherwise.
#   tests/data/full_disk.sh BUILD_DIR
set -euo pipefail
build="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
disk="$(mktemp -d /tmp/st-full.XXXXXX)"
data="$(mktemp -d /tmp/st-full-data.XXXXXX)"
out="$(mktemp -d /tmp/st-full-out.XXXXXX)"
cleanup() {
  umount "$disk" 2>/dev/null || true
  rmdir "$disk" 2>/dev/null || true
  rm -rf "$data" "$out"
}
trap cleanup EXIT
if ! mount -t tmpfs -o size=300k tmpfs "$disk" 2>/dev/null; then
  echo "SKIP: cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)"
  exit 77
fi
fail() { echo "FAIL: $1"; cat "$2"; exit 1; }
expect_clean_failure() {  # expect_clean_failure RC OUT WHAT
  [ "$1" = 1 ] || fail "$3 exited with $1 (1 expected: an error, not a crash)" "$2"
  grep -q "No space left on device (errno 28)" "$2" || fail "$3 does not name the cause" "$2"
  ! grep -q "HDF5-DIAG" "$2" || fail "$3 printed HDF5's own error stack" "$2"
}

rc=0
"$build/launch/st-data" listops --out "$disk/data" --train 20000 --val 10 --test 10 --max-len 64 --threads 1 \
  --quiet > "$out/data" 2>&1 || rc=$?
expect_clean_failure "$rc" "$out/data" st-data
[ -z "$(ls -A "$disk/data" 2>/dev/null)" ] || fail "st-data left files behind: $(ls "$disk/data")" "$out/data"

"$build/launch/st-data" listops --out "$data" --train 2000 --val 100 --test 100 --max-len 32 --threads 1 \
  --quiet > /dev/null
rc=0
ST_PROGRESS=plain OMP_NUM_THREADS=1 "$build/launch/st-train" "$root/configs/quickstart.yaml" --set "run_dir=$disk/run" \
  --set "data.train=$data/train-*.h5" --set "data.val=$data/val-*.h5" --set "data.test=$data/test-*.h5" \
  --set train.steps=5 > "$out/train" 2>&1 || rc=$?
expect_clean_failure "$rc" "$out/train" st-train
[ -z "$(ls -A "$disk/run/checkpoints" 2>/dev/null)" ] || fail "a partial checkpoint was left: $(ls "$disk/run/checkpoints")" "$out/train"
# The disk fills between checkpoints: the save that fails leaves nothing, the one before it is
# intact (st-eval loads it, every dataset checked against its checksum). Once with one process,
# once with 2 and the optimizer state sharded.
umount "$disk"
mount -t tmpfs -o size=400k tmpfs "$disk"
rc=0
ST_PROGRESS=plain OMP_NUM_THREADS=1 "$build/launch/st-train" "$root/configs/quickstart.yaml" --set "run_dir=$disk/run" \
  --set "data.train=$data/train-*.h5" --set "data.val=$data/val-*.h5" --set "data.test=$data/test-*.h5" \
  --set model.d_model=16 --set model.heads=2 --set model.d_ff=32 --set train.steps=1000 --set train.eval_every=0 \
  --set train.checkpoint_every=1 --set train.keep_checkpoints=1000 > "$out/fill" 2>&1 || rc=$?
expect_clean_failure "$rc" "$out/fill" "st-train filling the disk"
! ls "$disk/run/checkpoints/"*.tmp > /dev/null 2>&1 || fail "the failed save left its temporary file" "$out/fill"
newest="$(ls "$disk/run/checkpoints/"step-*.h5 | tail -1)"
[ -n "$newest" ] || fail "no checkpoint was written before the disk filled" "$out/fill"
"$build/launch/st-eval" --checkpoint "$newest" --data "$data/test-*.h5" > "$out/eval" 2>&1 ||
  fail "the last checkpoint before the full disk does not load" "$out/eval"
# The same with the optimizer state sharded over 2 processes (distributed.zero 1): the other rank
# gathers moments with rank 0 as it writes them; when rank 0's write fails, both finish the
# gathers and stop with the error (a hang would hit the timeout, exit 124).
if command -v mpirun > /dev/null; then
  umount "$disk"
  mount -t tmpfs -o size=400k tmpfs "$disk"
  rc=0
  ST_PROGRESS=plain OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 120 \
    mpirun --oversubscribe --bind-to none -np 2 "$build/launch/st-train" "$root/configs/quickstart.yaml" \
    --set "run_dir=$disk/run" --set "data.train=$data/train-*.h5" --set data.val= --set data.test= \
    --set model.d_model=16 --set model.heads=2 --set model.d_ff=32 --set train.steps=1000 --set train.eval_every=0 \
    --set train.checkpoint_every=1 --set train.keep_checkpoints=1000 --set distributed.zero=1 \
    --set distributed.bucket_mb=0.01 > "$out/fill-zero1" 2>&1 || rc=$?
  expect_clean_failure "$rc" "$out/fill-zero1" "st-train (2 processes, distributed.zero 1) filling the disk"
  ! ls "$disk/run/checkpoints/"*.tmp > /dev/null 2>&1 || fail "the failed save left its temporary file" "$out/fill-zero1"
  newest="$(ls "$disk/run/checkpoints/"step-*.h5 | tail -1)"
  [ -n "$newest" ] || fail "no checkpoint was written before the disk filled (zero 1)" "$out/fill-zero1"
  "$build/launch/st-eval" --checkpoint "$newest" --data "$data/test-*.h5" > "$out/eval" 2>&1 ||
    fail "the last sharded-run checkpoint before the full disk does not load" "$out/eval"
fi
echo "full_disk: passed"
