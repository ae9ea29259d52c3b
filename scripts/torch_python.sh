#!/usr/bin/env bash
# Prints the path of a python3 that imports torch, for the side-by-side benchmarks: $PYTHON
# (default python3) when it does, else the virtual environment $TORCH_VENV (default
# .cache/venv-torch), where pip installs torch from PyPI first if it is missing (the ordinary
# package index; its wheel is built for CUDA and runs on the CPU, several GB with its dependencies).
# Progress and errors go to stderr; exit 1 when torch cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if "$PYTHON" -c "import torch" 2>/dev/null; then
  command -v "$PYTHON"
  exit 0
fi
venv=${TORCH_VENV:-.cache/venv-torch}
if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  echo "torch_python: torch is not importable; installing it from PyPI into $venv (several GB)" >&2
  if ! { python3 -m venv "$venv" && "$venv/bin/python" -m pip install --quiet torch numpy; } >&2; then
    echo "torch_python: could not install torch into $venv (python3 -m venv, then pip install torch)." >&2
    echo "  Install it yourself (python3 -m pip install torch) and rerun with PYTHON=that python3." >&2
    exit 1
  fi
fi
echo "$PWD/$venv/bin/python"
