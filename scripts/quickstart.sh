#!/usr/bin/env bash
# The main job on the embedded default: set-up, build, generate a small ListOps (once), train
# configs/quickstart.yaml on 2 CPU processes, then print the test accuracy and where the
# curves are. Extra arguments go to st-train (e.g. --set train.steps=300).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
bash scripts/build.sh
bin="${BUILD_DIR:-build}/launch"

data=data/generated/quickstart
if ! ls "$data"/test-*.h5 >/dev/null 2>&1; then
  echo "quickstart: generating a small ListOps in $data"
  "$bin/st-data" listops --out "$data" --train 20000 --val 1000 --test 1000 \
    --max-len 64 --min-len 8 --max-depth 4 --max-args 4 --seed 1 --quiet
fi

# Threads per process follow st-train's automatic policy (train.log's "threads:" line says what
# it chose); --oversubscribe lets the 2 processes start on a 1-CPU machine too.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rm -rf runs/quickstart
start=$(date +%s)
mpirun -np 2 --oversubscribe "$bin/st-train" configs/quickstart.yaml "$@"
elapsed=$(( $(date +%s) - start ))

python3 - runs/quickstart/results.json "$elapsed" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"\nquickstart: test accuracy {100 * r['test_accuracy']:.1f}% "
      f"(10 balanced classes: the majority-class rate is about 11%), "
      f"best validation step {r['best_step']}, {sys.argv[2]} s")
PY
if python3 scripts/plot_metrics.py runs/quickstart >/dev/null 2>&1; then
  echo "quickstart: curves in runs/quickstart/curves/*.png; metrics in runs/quickstart/metrics.jsonl; TensorBoard: tensorboard --logdir runs/quickstart/tensorboard"
else
  echo "quickstart: metrics in runs/quickstart/metrics.jsonl (python3 -m pip install matplotlib, then python3 scripts/plot_metrics.py runs/quickstart for PNG curves); TensorBoard: tensorboard --logdir runs/quickstart/tensorboard"
fi
