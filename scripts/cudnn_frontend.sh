#!/usr/bin/env bash
# Fetches the header-only cudnn-frontend C++ library (NVIDIA, MIT licence) once into
# .cache/cudnn-frontend and prints its include directory. The headers come from the PyPI wheel
# nvidia-cudnn-frontend (pinned version and file, SHA-256 checked); the wheel is downloaded with
# pip and only its include/ tree and licence files are unpacked, so no Python environment changes.
# The headers are the same in every platform's wheel; the x86_64 CPython 3.11 one is pinned.
# Exits non-zero with the reason when pip or the network is not available.
#   bash scripts/cudnn_frontend.sh        -> prints .../cudnn-frontend/1.32.0/include
set -euo pipefail
version="1.32.0"
wheel_name="nvidia_cudnn_frontend-${version}-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
sha256="c6006556017a4d1c914c52a556c71b1267f2d6a0500f742e7b4edef539878df0"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${ST_CACHE_DIR:-$root/.cache}/cudnn-frontend"
dest="$cache/$version"
if [ ! -f "$dest/include/cudnn_frontend.h" ]; then
  if ! python3 -m pip --version >/dev/null 2>&1; then
    echo "cudnn_frontend: python3 -m pip is not available; cannot fetch nvidia-cudnn-frontend" >&2
    exit 1
  fi
  mkdir -p "$cache/wheels"
  wheel="$cache/wheels/$wheel_name"
  if [ ! -f "$wheel" ]; then
    echo "cudnn_frontend: downloading nvidia-cudnn-frontend $version (12 MB) into $cache" >&2
    if ! python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
        --platform manylinux_2_28_x86_64 --dest "$cache/wheels" \
        "nvidia-cudnn-frontend==$version" >&2; then
      echo "cudnn_frontend: pip download of nvidia-cudnn-frontend==$version failed (no network?)" >&2
      exit 1
    fi
  fi
  if ! echo "$sha256  $wheel" | sha256sum --check --status; then
    echo "cudnn_frontend: $wheel does not have the expected SHA-256 $sha256; removed it" >&2
    rm -f "$wheel"
    exit 1
  fi
  tmp="$dest.partial"
  rm -rf "$tmp"
  python3 - "$wheel" "$tmp" <<'EOF'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist()
             if n.startswith("include/") or (".dist-info/licenses/" in n)]
    for n in names:
        z.extract(n, out)
EOF
  rm -rf "$dest"
  mv "$tmp" "$dest"
fi
test -f "$dest/include/cudnn_frontend.h"
echo "$dest/include"
