#!/usr/bin/env bash
# SIGTERM before the training loop (here while a requeued Slurm job waits for its previous run's
# lock) ends st-train within two seconds, with exit code 143 and a message, and leaves nothing
# locked; SIGTERM inside the loop saves a checkpoint at the next step boundary and exits with 4
# (preempted: requeue and resume).
#   tests/launch/signals.sh BUILD_DIR
set -euo pipefail
build="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d /tmp/st-signals.XXXXXX)"
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1 ST_PROGRESS=plain
"$build/launch/st-data" listops --out "$work/data" --train 2000 --val 100 --test 100 --max-len 32 --threads 1 --quiet
train() {  # train OUT [st-train options...]: in the background; its PID in $!
  local out="$1"
  shift
  "$build/launch/st-train" "$root/configs/quickstart.yaml" --set "run_dir=$work/run" \
    --set "data.train=$work/data/train-*.h5" --set "data.val=$work/data/val-*.h5" --set "data.test=$work/data/test-*.h5" \
    --set model.d_model=16 --set model.heads=2 --set model.d_ff=32 --set train.log_every=1 "$@" > "$out" 2>&1 &
}
fail() { echo "FAIL: $1"; cat "$2"; exit 1; }
wait_for() {  # wait_for FILE TEXT
  for _ in $(seq 1 300); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "no '$2'" "$1"
}

# A holder (Slurm job 77, first run) trains; its requeued successor waits for the lock.
SLURM_JOB_ID=77 SLURM_RESTART_COUNT=0 train "$work/holder.out" --set train.steps=1000000 --set train.eval_every=0
holder=$!
pids+=("$holder")
wait_for "$work/holder.out" "step 1/"
SLURM_JOB_ID=77 SLURM_RESTART_COUNT=1 train "$work/waiting.out" --set train.steps=1000000
waiting=$!
pids+=("$waiting")
wait_for "$work/waiting.out" "waiting up to 60 s"
start=$(date +%s%N)
kill -TERM "$waiting"
rc=0
wait "$waiting" || rc=$?
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$rc" = 143 ] || fail "exit code $rc after SIGTERM in set-up (143 expected)" "$work/waiting.out"
[ "$elapsed_ms" -lt 2000 ] || fail "SIGTERM in set-up took $elapsed_ms ms" "$work/waiting.out"
grep -q "SIGTERM outside the training loop" "$work/waiting.out" || fail "no message" "$work/waiting.out"

# SIGTERM inside the loop: a checkpoint at the next step boundary, then a clean exit.
kill -TERM "$holder"
rc=0
wait "$holder" || rc=$?
[ "$rc" = 4 ] || fail "exit code $rc after SIGTERM in the loop (4, preempted, expected)" "$work/holder.out"
grep -q "preemption signal: checkpoint saved at step" "$work/holder.out" || fail "no checkpoint on SIGTERM" "$work/holder.out"
[ ! -e "$work/run/.lock" ] || fail "a lock was left behind" "$work/holder.out"
echo "signals: passed"
