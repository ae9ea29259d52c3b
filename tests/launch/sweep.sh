#!/usr/bin/env bash
# scripts/sweep.py on a tiny grid (1 and 2 processes, N 64 and 128, d 16): every layout of each
# point measured, the CSV and Markdown reports with efficiencies (1 process, 1 thread is 1.00 by
# definition), a second run into the same directory refused, and the Slurm array script it
# writes is valid bash with one array task per grid point.
#   tests/launch/sweep.sh BUILD_DIR
set -euo pipefail
build="$(cd "$1" && pwd)"
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d /tmp/st-sweep.XXXXXX)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $1"; [ -z "${2:-}" ] || cat "$2"; exit 1; }
command -v python3 > /dev/null || { echo "SKIP: no python3"; exit 77; }
[ -x "$build/bench/st-bench-dist" ] || { echo "SKIP: st-bench-dist is not built (ST_BUILD_BENCH off)"; exit 77; }
sweep=(python3 "$root/scripts/sweep.py")
"${sweep[@]}" run --out "$work/out" --build "$build" --processes 1,2 --n 64,128 --d 16 --heads 2 --layers 1 \
  --batch 2 --steps 1 > "$work/run.log" 2>&1 || fail "the sweep failed" "$work/run.log"
csv="$work/out/sweep.csv"
[ "$(head -n 1 "$csv")" = "layout,processes,threads,dp,sp,n,d,batch,step_s,tokens_per_s,peak_bytes_per_rank,sp_bytes_per_rank,skipped,strong_eff,weak_eff" ] ||
  fail "unexpected CSV header" "$csv"
for n in 64 128; do
  for layout in "1 process x 1 thread,1,1,1,1,$n" "1 process x P threads,1,2,1,1,$n" "dp only,2,1,2,1,$n" "sp only,2,1,1,2,$n"; do
    grep -q "^$layout,16,2," "$csv" || fail "no row '$layout'" "$csv"
  done
  grep -q "^1 process x 1 thread,1,1,1,1,$n,.*,1.0000,$" "$csv" || fail "the baseline's efficiency is not 1" "$csv"
done
[ "$(grep -c '^sp only' "$csv")" = 2 ] || fail "sp only measured more than once per point" "$csv"
awk -F, 'NR > 1 && $1 == "sp only" && $12 <= 0 { bad = 1 } END { exit bad }' "$csv" || fail "sp only moved no bytes" "$csv"
grep -q "| 128 | 16 | 2 | dp only | 2 x 1 | 2 x 1 |" "$work/out/sweep.md" || fail "the Markdown table lacks a row" "$work/out/sweep.md"
if "${sweep[@]}" run --out "$work/out" --build "$build" --processes 1 --n 64 --d 16 > "$work/again.log" 2>&1; then
  fail "a second sweep into the same directory was not refused" "$work/again.log"
fi
grep -q "raw.csv exists" "$work/again.log" || fail "the refusal does not say why" "$work/again.log"
"${sweep[@]}" sbatch --out "$work/cluster" --build "$build" --processes 1,2,4 --n 1k,4k --d 64 > "$work/sweep.sbatch" ||
  fail "sbatch script" "$work/sweep.sbatch"
bash -n "$work/sweep.sbatch" || fail "the sbatch script is not valid bash" "$work/sweep.sbatch"
grep -q "^#SBATCH --array=0-5$" "$work/sweep.sbatch" || fail "not one array task per grid point" "$work/sweep.sbatch"
grep -q "^#SBATCH --ntasks=4$" "$work/sweep.sbatch" || fail "the allocation is not the largest process count" "$work/sweep.sbatch"
[ -d "$work/cluster" ] || fail "the output directory for Slurm's files was not made"
echo "sweep: passed"
