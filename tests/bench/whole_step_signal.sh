#!/usr/bin/env bash
# st-bench --whole-step stopped by SIGTERM while the trainer runs: exit status 130, a message, and
# its temporary run directory removed.   whole_step_signal.sh ST_BENCH
set -uo pipefail
bench=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "whole_step_signal: $*"; cat "$tmp/err" 2>/dev/null; exit 1; }
TMPDIR="$tmp" "$bench" --whole-step --d 32 --heads 2 --layers 1 --n 256 --batch 4 --steps 100000 --warmup 1 \
  --kinds simpletron --threads 1 > "$tmp/out" 2> "$tmp/err" &
pid=$!
# grep reads the file itself: a `cat | grep -q` pipeline fails under pipefail whenever grep
# exits before cat has written everything (SIGPIPE), a race that once reported a logged step as
# missing.
logged() { grep -qs '"split":"train"' "$tmp"/st-bench-*/run/metrics.jsonl; }
seen=0
for _ in $(seq 600); do  # until the trainer has logged a step (it is in its loop)
  if logged; then seen=1; break; fi
  kill -0 $pid 2>/dev/null || fail "st-bench ended before logging a step"
  sleep 0.1
done
[ $seen -eq 1 ] || { kill -9 $pid; fail "the run never logged a step"; }
kill -TERM $pid
wait $pid
rc=$?
[ $rc -eq 130 ] || fail "exit status $rc, expected 130"
grep -q "interrupted by a signal" "$tmp/err" || fail "no message"
compgen -G "$tmp/st-bench-*" > /dev/null && fail "the temporary run directory was left: $(ls "$tmp")"
echo "whole_step_signal: exit 130, directory removed"
