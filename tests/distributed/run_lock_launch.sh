#!/usr/bin/env bash
# One job per run directory, end to end under mpirun: a 2-rank job started on a directory that a
# 1-rank job holds is refused (exit code 75, the holder named once, no MPI abort, nothing
# written); after the holder is killed with SIGKILL the next job proceeds; a 1-rank job is
# refused while a 2-rank job holds the directory, and the holder's metrics have no duplicate or
# foreign rows; a requeue wait longer than the collective timeout is refused.
#   tests/distributed/run_lock_launch.sh BUILD_DIR MPIEXEC
set -euo pipefail
build="$1"
mpiexec="$2"
work="$(mktemp -d /tmp/st-lock.XXXXXX)"
holder=""
cleanup() {
  [ -n "$holder" ] && kill -9 "$holder" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export OMP_NUM_THREADS=1 ST_PROGRESS=plain
"$build/launch/st-data" listops --out "$work/data" --train 64 --val 16 --test 16 --max-len 32 \
  --min-len 8 --max-depth 3 --max-args 3 --seed 2 --threads 1 --quiet
run="$work/run"
args() {  # st-train arguments for a small run of $1 steps on $run
  echo "$(dirname "$0")/../../configs/quickstart.yaml" --set "run_dir=$run" --set "data.train=$work/data/train-*.h5" \
    --set "data.val=$work/data/val-*.h5" --set data.test= --set "train.steps=$1" --set train.eval_every=0 \
    --set train.checkpoint_every=0 --set model.d_model=16 --set model.heads=2 --set model.d_ff=32 \
    --set data.batch_size=8 --set train.log_every=50
}
mpirun=("$mpiexec" --oversubscribe --allow-run-as-root --bind-to none)
fail() { echo "FAIL: $1"; [ -f "${2:-}" ] && cat "$2"; exit 1; }
wait_for_training() {  # wait_for_training LOG: until the holder has logged its headline
  for _ in $(seq 1 300); do
    grep -q "st-train: classification" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "the holder did not start" "$1"
}
refused() {  # refused OUT RC HOLDER_PID: the refusal as a user sees it
  [ "$2" = 75 ] || fail "exit code $2, expected 75 (locked)" "$1"
  [ "$(grep -c "is in use by another job" "$1")" = 1 ] || fail "the refusal is not printed exactly once" "$1"
  grep -q "PID $3 on host $(hostname)" "$1" || fail "the holder (PID $3) is not named" "$1"
  ! grep -q "MPI_ABORT" "$1" || fail "the refusal aborted the job" "$1"
}

# 1. A 1-rank job holds the directory; a 2-rank job is refused and writes nothing.
# shellcheck disable=SC2046
"$build/launch/st-train" $(args 1000000) > "$work/holder.out" 2>&1 &
holder=$!
wait_for_training "$work/holder.out"
before="$(ls -A "$run" | sort)"
rc=0
# shellcheck disable=SC2046
"${mpirun[@]}" -np 2 "$build/launch/st-train" $(args 20) > "$work/second.out" 2>&1 || rc=$?
refused "$work/second.out" "$rc" "$holder"
[ "$(ls -A "$run" | sort)" = "$before" ] || fail "the refused job changed the directory"

# 2. The holder is killed with SIGKILL: the next job proceeds, and the dead job's files are kept
#    aside rather than mixed with the new run's.
kill -9 "$holder"
wait "$holder" 2>/dev/null || true
holder=""
# shellcheck disable=SC2046
"${mpirun[@]}" -np 2 "$build/launch/st-train" $(args 20) > "$work/after_kill.out" 2>&1 ||
  fail "the job after SIGKILL did not run" "$work/after_kill.out"
grep -q "an earlier run here ended before its first checkpoint" "$run/train.log" ||
  fail "the killed run's files were not set aside" "$run/train.log"
[ ! -e "$run/.lock" ] || fail "the finished job left its lock"

# 3. A 2-rank job holds a fresh directory; a 1-rank job is refused; the holder ends on a
#    preemption signal and its metrics hold each (split, step) once.
run="$work/run2"
# shellcheck disable=SC2046
"${mpirun[@]}" -np 2 "$build/launch/st-train" $(args 1000000) > "$work/holder2.out" 2>&1 &
holder=$!
wait_for_training "$work/holder2.out"
rank0="$(sed -n 's/^pid: //p' "$run/.lock")"
rc=0
# shellcheck disable=SC2046
"$build/launch/st-train" $(args 20) > "$work/single.out" 2>&1 || rc=$?
refused "$work/single.out" "$rc" "$rank0"
kill -USR1 "$holder"  # mpirun forwards it: checkpoint, then exit
wait "$holder" || true
holder=""
grep -q "preemption signal: checkpoint saved" "$run/train.log" || fail "the holder did not stop cleanly" "$work/holder2.out"
dups="$(python3 -c "
import json, sys, collections
rows = [json.loads(l) for l in open(sys.argv[1])]
c = collections.Counter((r['split'], r['step']) for r in rows)
print(sum(1 for v in c.values() if v > 1))" "$run/metrics.jsonl")"
[ "$dups" = 0 ] || fail "metrics.jsonl has $dups duplicate rows" "$run/metrics.jsonl"
[ ! -e "$run/.lock" ] || fail "the preempted job left its lock"
# ...and resumes on 2 ranks: rank 0 chooses the checkpoint, both follow.
saved="$(sed -n 's/.*checkpoint saved at step \([0-9]*\).*/\1/p' "$run/train.log" | tail -1)"
# shellcheck disable=SC2046
"${mpirun[@]}" -np 2 "$build/launch/st-train" $(args $((saved + 2))) --resume "$run" --allow-change train.steps > "$work/resume2.out" 2>&1 ||
  fail "the 2-rank resume failed" "$work/resume2.out"
grep -q "resumed from $run/checkpoints/step-0*$saved.h5 at step $saved" "$run/train.log" ||
  fail "the 2-rank resume did not continue from step $saved" "$run/train.log"

# 4. The other ranks wait for rank 0's lock within the collective timeout: a requeue wait longer
#    than it is refused before anything is written.
run="$work/run3"
rc=0
# shellcheck disable=SC2046
"${mpirun[@]}" -np 2 "$build/launch/st-train" $(args 2) --set distributed.timeout_seconds=30 \
  > "$work/timeout.out" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "a requeue wait above the collective timeout was accepted" "$work/timeout.out"
grep -q "lock.requeue_wait_seconds (60) must be below distributed.timeout_seconds (30)" "$work/timeout.out" ||
  fail "the error does not name both keys" "$work/timeout.out"
[ ! -e "$run" ] || fail "the refused run created its directory"
echo "run_lock_launch: all cases passed"
