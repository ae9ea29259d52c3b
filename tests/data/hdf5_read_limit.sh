#!/usr/bin/env bash
# A shard that makes the HDF5 library loop forever (tests/fixtures/hostile/hdf5-global-heap-loop.h5:
# the vocabulary attribute's bytes in the global heap zeroed, so that HDF5 1.10 spins on a
# free-space object of size 0) ends st-data inspect and st-train with exit status 65 (a data error) and an error
# naming the file once ST_HDF5_READ_LIMIT seconds have passed, instead of hanging.
#   tests/data/hdf5_read_limit.sh BUILD_DIR
set -euo pipefail
build="$1"
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
shard="$(cd "$(dirname "${BASH_SOURCE[0]}")/../fixtures/hostile" && pwd)/hdf5-global-heap-loop.h5"
work="$(mktemp -d /tmp/st-read-limit.XXXXXX)"
trap 'rm -rf "$work"' EXIT
export ST_HDF5_READ_LIMIT=2 ST_PROGRESS=plain
check() {  # check NAME COMMAND...: exit 65 within 20 s, the file and the limit named
  local name="$1"
  shift
  local start=$SECONDS rc=0
  timeout 20 "$@" > "$work/$name.out" 2>&1 || rc=$?
  [ "$rc" = 65 ] || { echo "FAIL: $name: exit status $rc, expected 65"; cat "$work/$name.out"; exit 1; }
  grep -q "$shard: a read has not returned after 2 s" "$work/$name.out" ||
    { echo "FAIL: $name: no error naming the file"; cat "$work/$name.out"; exit 1; }
  echo "$name: ended after $((SECONDS - start)) s"
}
# A newer HDF5 may refuse the file instead of looping: then there is nothing to bound here.
if timeout 20 "$build/launch/st-data" inspect "$shard" > "$work/probe.out" 2>&1 ||
   ! grep -q "a read has not returned" "$work/probe.out"; then
  echo "SKIP: this HDF5 library does not loop on the fixture:"; cat "$work/probe.out"; exit 77
fi
check inspect "$build/launch/st-data" inspect "$shard"
check train "$build/launch/st-train" configs/quickstart.yaml --set "data.train=$shard" --set run_dir="$work/run" --set train.steps=2
echo "hdf5_read_limit: passed"
