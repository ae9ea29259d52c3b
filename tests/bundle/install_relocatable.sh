#!/usr/bin/env bash
# `cmake --install` into a prefix, then the prefix moved elsewhere (label bundle): every program
# still starts (--version), and the configs, docs and Slurm examples are in share/simpletron.
# Usage: install_relocatable.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/st-install-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "install test: FAILED: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$work/prefix" > "$work/install.log" || { cat "$work/install.log"; fail "cmake --install"; }
mv "$work/prefix" "$work/moved"
p="$work/moved"
for prog in st-train st-eval st-data st-import st-tiny-train st-bench st-bench-attention st-bench-core st-bench-dist st-bench-loader; do
  [ -x "$p/bin/$prog" ] || fail "bin/$prog was not installed"
  out=$("$p/bin/$prog" --version) || fail "$prog --version failed after the move"
  [[ "$out" == "$prog "* ]] || fail "$prog --version printed '$out'"
done
"$p/bin/st-train" --version
runpath=$(objdump -p "$p/bin/st-train" | awk '/RUNPATH|RPATH/ { print $2 }')
[[ "$runpath" == '$ORIGIN/../lib'* ]] || fail "st-train's run path is '$runpath', not \$ORIGIN/../lib first"
for f in configs/quickstart.yaml docs/design.md docs/install.md slurm/singlenode.sbatch README.md; do
  [ -f "$p/share/simpletron/$f" ] || fail "share/simpletron/$f was not installed"
done
[ ! -e "$p/libexec/simpletron/tests" ] || fail "the GPU tests were installed without --component gpu-tests"
"$p/bin/st-train" --config-docs > "$work/docs.md" && grep -q "model.d_model" "$work/docs.md" || fail "the installed st-train --config-docs"
echo "install test: passed (run path $runpath)"
