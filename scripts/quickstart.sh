#!/usr/bin/env bash
# The main job on the embedded default: set-up, build, then a small CPU training run on data
# generated on the fly.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/build.sh
build_dir="${BUILD_DIR:-build}"
"$build_dir/launch/st-tiny-train" "$@"
