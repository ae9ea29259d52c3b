#!/usr/bin/env bash
# A validation shard renamed away in the middle of a run, after the start validated it and before
# the first evaluation reads it: the evaluation fails on every rank together, the training done so
# far is saved as a step checkpoint first, and st-train exits 65 (a data error) naming the step and the file,
# printed once; --resume continues from that checkpoint once the data is back. With 1 process,
# then 2 under mpirun, where only rank 1 reads the missing shard (its message reaches rank 0).
#   tests/launch/validation_data_gone.sh BUILD_DIR MPIEXEC
set -euo pipefail
build="$1"
mpiexec="$2"
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d /tmp/st-val-gone.XXXXXX)"
pid=""
trap '[ -z "$pid" ] || kill -9 "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1 ST_PROGRESS=plain
"$build/launch/st-data" listops --out "$work/data" --train 2000 --val 400 --test 0 --max-len 32 --shard-size 200 \
  --threads 1 --quiet > /dev/null
mkdir "$work/val"
mv "$work/data"/val-*.h5 "$work/val/"
fail() { echo "FAIL: $1"; cat "$2"; exit 1; }
for np in 1 2; do
  run="$work/run$np" out="$work/out$np"
  launcher=()
  [ "$np" = 1 ] || launcher=("$mpiexec" -np 2 --oversubscribe --allow-run-as-root --bind-to none)
  args=("$root/configs/quickstart.yaml" --set "run_dir=$run" --set "data.train=$work/data/train-*.h5"
        --set "data.val=$work/val/val-*.h5" --set data.test= --set data.max_open_files=1
        --set model.d_model=16 --set model.heads=2 --set model.d_ff=32 --set train.eval_every=400
        --set train.checkpoint_every=1000000 --set train.log_every=20)
  "${launcher[@]}" "$build/launch/st-train" "${args[@]}" --set train.steps=400 > "$out" 2>&1 &
  pid=$!
  # Step 20 is logged once every rank is training; the evaluation comes at step 400 (380 steps
  # later: about half a second here, half a minute under the sanitizers).
  for _ in $(seq 1 2400); do grep -q "step 20/" "$out" && break; sleep 0.05; done
  grep -q "step 20/" "$out" || fail "training did not start ($np process(es))" "$out"
  mv "$work/val/val-00001.h5" "$work/away.h5"
  for _ in $(seq 1 1200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && { kill -9 "$pid"; fail "still running after 120 s ($np process(es))" "$out"; }
  rc=0
  wait "$pid" || rc=$?
  pid=""
  [ "$rc" = 65 ] || fail "exit status $rc, expected 65 ($np process(es))" "$out"
  grep -q "validation at step 400 failed: .*val-00001.h5" "$out" || fail "no error naming the step and file" "$out"
  [ "$(grep -c "validation at step 400 failed" "$out")" = 1 ] || fail "the error is not printed once" "$out"
  [ -f "$run/checkpoints/step-000000400.h5" ] || fail "no checkpoint of step 400" "$out"
  mv "$work/away.h5" "$work/val/val-00001.h5"
  "${launcher[@]}" "$build/launch/st-train" "${args[@]}" --set train.steps=401 --resume "$run" --allow-change train.steps > "$out.resumed" 2>&1 ||
    fail "--resume after the data is back" "$out.resumed"
  grep -q "resum.*step 400" "$out.resumed" || fail "did not resume from step 400" "$out.resumed"
  echo "$np process(es): stopped at step 400 with a checkpoint, resumed"
done
echo "validation_data_gone: passed"
