#!/usr/bin/env bash
# Weight transfer, end to end: fetch all-MiniLM-L6-v2 (scripts/pretrained.sh), import it
# (st-import: softmax attention, the teacher; SimpleTRON attention with the attention output
# projections at zero, the student's initial weights), make sentence shards from CMake's documentation
# (installed with cmake) with its WordPiece vocabulary, train the SimpleTRON student from the
# teacher's weights and from random weights (configs/transfer/*.yaml), evaluate both on the test
# split (st-eval: cosine, retrieval top-1, similarity Spearman), then print and plot validation
# loss and cosine side by side (runs/transfer/transfer.png).
# Extra arguments go to both st-train runs, e.g. --set train.steps=100.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/build.sh
bin="${BUILD_DIR:-build}/launch"
model_dir="$(bash scripts/pretrained.sh)"
help_dir="$(ls -d /usr/share/cmake-*/Help 2>/dev/null | head -1)"
[ -n "$help_dir" ] || { echo "transfer: CMake's documentation (/usr/share/cmake-*/Help) is missing" >&2; exit 1; }
mkdir -p data/transfer
"$bin/st-import" --from "$model_dir" --out data/transfer/minilm.h5 > data/transfer/import.log
head -4 data/transfer/import.log
"$bin/st-import" --from "$model_dir" --out data/transfer/minilm-student.h5 --attention simpletron \
  --attention-gain 0 > data/transfer/import-student.log
"$bin/st-data" sentences --input "$help_dir" --vocab "$model_dir/vocab.txt" --out data/transfer/sentences \
  --max-len 48 --overwrite
export ST_PROGRESS="${ST_PROGRESS:-plain}"
for run in minilm-simpletron minilm-scratch; do
  echo "transfer: training configs/transfer/$run.yaml (runs/transfer/$run is replaced)"
  rm -rf "runs/transfer/$run"
  "$bin/st-train" "configs/transfer/$run.yaml" "$@"
done
# Test split, best checkpoint of each run: cosine, retrieval top-1, similarity Spearman.
for run in minilm-simpletron minilm-scratch; do
  "$bin/st-eval" --checkpoint "runs/transfer/$run/checkpoints/best.h5" --data "data/transfer/sentences/test-*.h5"
done
python3 scripts/plot_transfer.py runs/transfer/minilm-simpletron runs/transfer/minilm-scratch \
  --out runs/transfer/transfer.png
