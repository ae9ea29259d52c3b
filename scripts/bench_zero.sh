#!/usr/bin/env bash
# Optimizer state per process with and without ZeRO-1 (distributed.zero), side by side: st-train
# on the same model and data at dp 1, 2 and 4 (mpirun; more ranks than cores is fine, only memory
# and bytes are compared), zero 0 and 1. Per row: AdamW moment bytes per rank (results.json
# optimizer_bytes_per_rank), the largest peak of a rank's allocator and resident set, the median
# step time, and the final training loss (equal between zero 0 and 1 up to fp32 rounding).
# Environment (defaults): BUILD=build D=512 LAYERS=8 DFF=2048 HEADS=8 STEPS=6 DPS="1 2 4"
#   OUT=$BUILD/bench-zero (data and run directories).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build} D=${D:-512} LAYERS=${LAYERS:-8} DFF=${DFF:-2048} HEADS=${HEADS:-8}
STEPS=${STEPS:-6} DPS=${DPS:-"1 2 4"} OUT=${OUT:-$BUILD/bench-zero}
for tool in st-train st-data; do
  [[ -x $BUILD/launch/$tool ]] || { echo "bench_zero: $BUILD/launch/$tool is missing; build first (scripts/build.sh)" >&2; exit 1; }
done
command -v mpirun >/dev/null || { echo "bench_zero: mpirun not found (scripts/setup.sh installs Open MPI)" >&2; exit 1; }
mkdir -p "$OUT"
data=$OUT/data
if [[ ! -f $data/train-00000.h5 ]]; then
  "$BUILD/launch/st-data" listops --out "$data" --train 2000 --val 8 --test 8 --max-len 64 --min-len 8 \
    --max-depth 4 --max-args 4 --seed 1 --quiet --overwrite
fi
export ST_PROGRESS=plain OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
printf '%-4s %-5s %20s %18s %17s %14s %12s\n' dp zero "moments MB per rank" "allocator peak MB" "peak resident MB" \
  "median step s" "final loss"
for dp in $DPS; do
  for zero in 0 1; do
    run=$OUT/run-dp$dp-zero$zero
    rm -rf "$run"
    mpirun --oversubscribe --bind-to none -np "$dp" "$BUILD/launch/st-train" configs/quickstart.yaml \
      --set run_dir="$run" --set data.train="$data/train-*.h5" --set data.val= --set data.test= \
      --set model.d_model="$D" --set model.layers="$LAYERS" --set model.d_ff="$DFF" --set model.heads="$HEADS" \
      --set data.batch_size=8 --set train.steps="$STEPS" --set train.log_every=1 --set train.eval_every=0 \
      --set train.checkpoint_every=0 --set distributed.zero="$zero" > "$run.log" 2>&1 \
      || { echo "bench_zero: st-train failed at dp $dp zero $zero; see $run.log" >&2; exit 1; }
    python3 - "$run" "$dp" "$zero" <<'PY'
import json, statistics, sys
run, dp, zero = sys.argv[1:]
res = json.load(open(run + "/results.json"))
rows = [json.loads(l) for l in open(run + "/metrics.jsonl")]
train = [r for r in rows if r.get("split") == "train"]
times = [r["time"] for r in train[1:]] or [train[0]["time"]]  # the first step warms up
print(f"{dp:<4} {zero:<5} {max(res['optimizer_bytes_per_rank']) / 1e6:20.2f} "
      f"{max(res['peak_allocator_bytes_per_rank']) / 1e6:18.1f} {max(res['peak_resident_bytes_per_rank']) / 1e6:17.1f} "
      f"{statistics.median(times):14.3f} {train[-1]['loss']:12.6f}")
PY
  done
done
