#!/usr/bin/env bash
# Threads per rank, end to end under mpirun: the automatic count for unbound ranks, the
# OMP_NUM_THREADS and config overrides, the per-node log line and the oversubscription warning
# (once, from rank 0), results.json's count, and an invalid OMP_NUM_THREADS refused before any
# file is written.
#   tests/distributed/threads_launch.sh BUILD_DIR MPIEXEC
set -euo pipefail
build="$1"
mpiexec="$2"
work="$(mktemp -d /tmp/st-threads.XXXXXX)"
trap 'rm -rf "$work"' EXIT
unset OMP_NUM_THREADS SLURM_CPUS_PER_TASK
cpus="$(nproc)"  # this process's affinity mask: what unbound ranks share
"$build/launch/st-data" listops --out "$work/data" --train 64 --val 16 --test 16 --max-len 32 \
  --min-len 8 --max-depth 3 --max-args 3 --seed 2 --threads 1 --quiet
mpirun=("$mpiexec" --oversubscribe --allow-run-as-root --bind-to none)
train() {  # train NAME NP [mpirun options...] -- [st-train options...]
  local name="$1" np="$2"
  shift 2
  local opts=()
  while [ "$1" != "--" ]; do opts+=("$1"); shift; done
  shift
  ST_PROGRESS=plain "${mpirun[@]}" -np "$np" "${opts[@]}" "$build/launch/st-train" \
    "$(dirname "$0")/../../configs/quickstart.yaml" --set run_dir="$work/$name" \
    --set "data.train=$work/data/train-*.h5" --set "data.val=$work/data/val-*.h5" --set "data.test=" \
    --set train.steps=2 --set train.eval_every=0 --set train.checkpoint_every=0 --set model.d_model=16 \
    --set model.heads=2 --set model.d_ff=32 --set data.batch_size=8 "$@" > "$work/$name.out" 2>&1
}
fail() { echo "FAIL: $1"; cat "$work/$2.out"; exit 1; }
expect_line() {  # expect_line NAME TEXT: one line of train.log and of the output holds TEXT
  [ "$(grep -cF -- "$2" "$work/$1/train.log")" = 1 ] || fail "train.log lacks: $2" "$1"
  [ "$(grep -cF -- "$2" "$work/$1.out")" = 1 ] || fail "output has not exactly one: $2" "$1"
}
threads_in_results() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['threads_per_rank'])" "$work/$1/results.json"; }

# 4 unbound ranks, nothing set: each takes cpus / 4, at least 1.
auto=$(( cpus / 4 )); [ "$auto" -ge 1 ] || auto=1
train auto 4 -- || fail "4 ranks, automatic" auto
unit=threads; [ "$auto" = 1 ] && unit=thread
expect_line auto "4 ranks on $cpus CPUs, not bound (every rank may run on all $cpus), $auto $unit per rank (automatic)"
[ "$(threads_in_results auto)" = "$auto" ] || fail "results.json threads_per_rank is not $auto" auto
if [ $(( 4 * auto )) -gt "$cpus" ]; then
  expect_line auto "warning: node"
  grep -qF "more ranks than CPUs" "$work/auto.out" || fail "the warning does not say why" auto
else
  ! grep -q "warning: node" "$work/auto.out" || fail "a warning without oversubscription" auto
fi

# OMP_NUM_THREADS wins over the automatic count, and the config key over OMP_NUM_THREADS.
train omp 2 -x OMP_NUM_THREADS=3 -- || fail "OMP_NUM_THREADS=3" omp
expect_line omp "2 ranks on $cpus CPUs, not bound (every rank may run on all $cpus), 3 threads per rank (OMP_NUM_THREADS)"
[ "$(threads_in_results omp)" = 3 ] || fail "results.json threads_per_rank is not 3" omp
if [ 6 -gt "$cpus" ]; then
  expect_line omp "warning: node"
  grep -qF "unset it for the automatic count" "$work/omp.out" || fail "the warning does not say how to fix it" omp
fi
train config 2 -x OMP_NUM_THREADS=3 -- --set threads=1 || fail "threads=1" config
expect_line config "1 thread per rank (config threads)"

# An invalid OMP_NUM_THREADS: refused on every rank, nothing written.
if OMP_NUM_THREADS=abc train bad 2 -x OMP_NUM_THREADS --; then fail "OMP_NUM_THREADS=abc accepted" bad; fi
grep -qF "OMP_NUM_THREADS: 'abc' is not a thread count" "$work/bad.out" || fail "no message naming the variable" bad
[ ! -e "$work/bad" ] || fail "the refused run wrote $work/bad" bad
echo "threads launch: ok ($cpus CPUs, $auto automatic threads for 4 unbound ranks)"
