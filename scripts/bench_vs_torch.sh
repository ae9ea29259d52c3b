#!/usr/bin/env bash
# Our CPU training step against PyTorch's on the same machine, same model, same thread count.
# Builds st-bench if needed, makes sure torch is importable (pip installs it from PyPI into
# .cache/venv-torch when it is missing), then alternates st-bench and bench/torch_reference.py for REPS repetitions per
# width d (median tokens/s per row), and prints:
#   1. tokens/s ours vs PyTorch eager per (d, kind, N) with the ratio (target >= 1.5 for N >= 1K);
#   2. GEMM share: GFLOP/s our matmuls achieve inside the step vs cblas_sgemm at 2048^3 (>= 60%);
#   3. linear scaling: simpletron time and bytes per token at the largest N vs N = 1K (<= 1.2x),
#      softmax for contrast.
# Raw CSVs go to $OUT (default $BUILD/bench-out). Environment (defaults):
#   BUILD=build-perf THREADS=2 REPS=3 STEPS=2 WARMUP=1 DS="256 512" NS="1024 4096 16384"
#   KINDS="simpletron softmax" N64K=1 (simpletron at 65536 for the first d too) LAYERS=2 HEADS=4
#   TORCH_FIRST_ROW=1 (also PyTorch with the last block on position 0 only, as our model runs)
#   PYTHON=python3 (one that imports torch) TORCH_VENV=.cache/venv-torch (where torch goes otherwise)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-perf} THREADS=${THREADS:-2} REPS=${REPS:-3} STEPS=${STEPS:-2} WARMUP=${WARMUP:-1}
DS=${DS:-"256 512"} NS=${NS:-"1024 4096 16384"} KINDS=${KINDS:-"simpletron softmax"} N64K=${N64K:-1}
LAYERS=${LAYERS:-2} HEADS=${HEADS:-4} OUT=${OUT:-$BUILD/bench-out} TORCH_FIRST_ROW=${TORCH_FIRST_ROW:-1}

if [[ ! -x $BUILD/bench/st-bench ]]; then
  echo "bench_vs_torch: building st-bench in $BUILD" >&2
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DST_CUDA=OFF >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" --target st-bench >/dev/null
fi
PYTHON=$(bash scripts/torch_python.sh)  # one that imports torch (installed from PyPI if need be)

mkdir -p "$OUT"
rm -f "$OUT"/ours_*.csv "$OUT"/torch_*.csv
csv_n() { echo "$1" | tr ' ' ','; }
echo "bench_vs_torch: $(lscpu | sed -n 's/^Model name: *//p'), $THREADS threads, $REPS repetitions," \
     "$WARMUP+$STEPS steps each, d in {$DS}, N in {$NS}, kinds {$KINDS}" >&2
"$BUILD/bench/st-bench" --sgemm-peak --n 256 --kinds simpletron --steps 1 --warmup 0 \
  --threads "$THREADS" 2>/dev/null | sed -n 's/^sgemm_peak_gflops,//p' > "$OUT/sgemm_peak.txt"
for rep in $(seq 1 "$REPS"); do
  for d in $DS; do
    for kind in $KINDS; do
      ns=$NS
      if [[ $N64K == 1 && $kind == simpletron && $d == ${DS%% *} ]]; then ns="$NS 65536"; fi
      common=(--d "$d" --layers "$LAYERS" --heads "$HEADS" --n "$(csv_n "$ns")" --kinds "$kind"
              --steps "$STEPS" --warmup "$WARMUP" --threads "$THREADS")
      echo "bench_vs_torch: rep $rep/$REPS d=$d $kind: ours" >&2
      "$BUILD/bench/st-bench" "${common[@]}" --csv "$OUT/ours_${d}_${kind}_$rep.csv" >/dev/null
      echo "bench_vs_torch: rep $rep/$REPS d=$d $kind: PyTorch" >&2
      "$PYTHON" bench/torch_reference.py "${common[@]}" > "$OUT/torch_${d}_${kind}_$rep.csv"
      if [[ $TORCH_FIRST_ROW == 1 ]]; then
        "$PYTHON" bench/torch_reference.py "${common[@]}" --first-row-only \
          > "$OUT/torchfr_${d}_${kind}_$rep.csv"
      fi
    done
  done
done

python3 - "$OUT" <<'EOF'
import csv, glob, os, statistics, sys
from collections import defaultdict
out = sys.argv[1]
def load(pattern):
    rows = defaultdict(list)
    for f in glob.glob(os.path.join(out, pattern)):
        for r in csv.DictReader(l for l in open(f) if not l.startswith("#")):
            rows[(int(r["d"]), r["kind"], int(r["n"]))].append(r)
    return rows
ours, torch, torchfr = load("ours_*.csv"), load("torch_*.csv"), load("torchfr_*.csv")
def med(rs, col):
    v = [float(r[col]) for r in rs if r["status"] == "ok" and r[col]]
    return statistics.median(v) if v else None
def spread(rs, col):
    v = [float(r[col]) for r in rs if r["status"] == "ok" and r[col]]
    return (max(v) - min(v)) / statistics.median(v) / 2 if len(v) > 1 else 0.0
def fmt(x, f="{:.0f}"):
    return f.format(x) if x is not None else "skipped"
print("\n## Training step, tokens/s (median of repetitions; +- half the relative range)\n")
print("| d | kind | N | ours | PyTorch eager | ours / PyTorch | PyTorch first-row | ours / that | ours fwd/bwd/opt ms |")
print("|---|---|---|---|---|---|---|---|---|")
for key in sorted(ours):
    d, kind, n = key
    o, t, tf = med(ours[key], "tokens_per_s"), med(torch.get(key, []), "tokens_per_s"), med(torchfr.get(key, []), "tokens_per_s")
    if o is None:
        note = ours[key][0]["note"]
        print(f"| {d} | {kind} | {n} | skipped ({note}) | {fmt(t)} | | {fmt(tf)} | | |")
        continue
    r = f"{o / t:.2f}" if t else "n/a"
    rf = f"{o / tf:.2f}" if tf else "n/a"
    parts = "/".join(f"{med(ours[key], c):.0f}" for c in ("fwd_ms", "bwd_ms", "opt_ms"))
    print(f"| {d} | {kind} | {n} | {o:.0f} ±{100*spread(ours[key], 'tokens_per_s'):.0f}% | "
          f"{fmt(t)} ±{100*spread(torch.get(key, []), 'tokens_per_s'):.0f}% | {r} | {fmt(tf)} | {rf} | {parts} |")
peak = float(open(os.path.join(out, "sgemm_peak.txt")).read().strip() or 0)
print(f"\n## GEMM share (cblas_sgemm 2048^3 peak on this machine: {peak:.1f} GFLOP/s; target >= 60%)\n")
print("| d | kind | N | our matmuls GFLOP/s | of peak | share of step time in GEMM |")
print("|---|---|---|---|---|---|")
for key in sorted(ours):
    g = med(ours[key], "gemm_gflops")
    if g is None:
        continue
    print(f"| {key[0]} | {key[1]} | {key[2]} | {g:.1f} | {100 * g / peak:.0f}% | {100 * med(ours[key], 'gemm_share'):.0f}% |")
print("\n## Linear scaling (ours): time and bytes per token, largest N vs N = 1024 (target <= 1.2x, flat)\n")
print("| d | kind | N | us/token | x vs 1K | bytes/token | x vs 1K |")
print("|---|---|---|---|---|---|---|")
for (d, kind) in sorted({(k[0], k[1]) for k in ours}):
    ns = sorted(n for (dd, kk, n) in ours if dd == d and kk == kind and med(ours[(dd, kk, n)], "tokens_per_s"))
    if 1024 not in ns:
        continue
    base_t = 1e6 / med(ours[(d, kind, 1024)], "tokens_per_s")
    base_b = med(ours[(d, kind, 1024)], "bytes_per_token")
    for n in ns:
        t = 1e6 / med(ours[(d, kind, n)], "tokens_per_s")
        b = med(ours[(d, kind, n)], "bytes_per_token")
        print(f"| {d} | {kind} | {n} | {t:.1f} | {t / base_t:.2f} | {b:.0f} | {b / base_b:.2f} |")
EOF
