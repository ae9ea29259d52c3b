#!/usr/bin/env bash
# st-data refuses row lengths above its limit (1 << 24 tokens: a row is built in memory whole)
# at once, naming the option, instead of allocating gigabytes for a two-row file.
#   tests/data/st_data_limits.sh BUILD_DIR
set -euo pipefail
build="$1"
work="$(mktemp -d /tmp/st-data-limits.XXXXXX)"
trap 'rm -rf "$work"' EXIT
printf 'Source\tTarget\n( 1 )\t1\n[MAX 2 3 ]\t3\n' > "$work/rows.tsv"
printf 'some text\n' > "$work/text.txt"
check() {  # check NAME COMMAND...: refused quickly with the option named, nothing written
  local name="$1"
  shift
  rc=0
  timeout 20 "$@" > "$work/$name.out" 2>&1 || rc=$?
  [ "$rc" != 0 ] && [ "$rc" != 124 ] || { echo "FAIL: $name was not refused (rc $rc)"; cat "$work/$name.out"; exit 1; }
  grep -q "not in range 1 to 16777216" "$work/$name.out" || { echo "FAIL: $name: no range in the error"; cat "$work/$name.out"; exit 1; }
  [ ! -e "$work/out-$name" ] || { echo "FAIL: $name wrote output"; exit 1; }
}
check listops_tsv "$build/launch/st-data" listops-tsv --train "$work/rows.tsv" --out "$work/out-listops_tsv" --max-len 2147483648
check listops "$build/launch/st-data" listops --out "$work/out-listops" --train 2 --val 1 --test 1 --max-len 4294967296
check lm "$build/launch/st-data" lm --input "$work/text.txt" --out "$work/out-lm" --seq-len 16777217
echo "st_data_limits: passed"
