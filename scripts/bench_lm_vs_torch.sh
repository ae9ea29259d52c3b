#!/usr/bin/env bash
# The causal language model's training step, ours against PyTorch's on the same machine, same
# model, same thread count: st-bench --task lm against bench/torch_lm.py, eager and under
# torch.compile (a byte-level LM by default: vocab 256, d 256, 4 heads, 4 layers, d_ff 1024, tied
# embeddings, chunk 64, batch 1; equal work: the same parameters, tokens and loss). The three are
# alternated for REPS repetitions, and the script prints:
#   1. tokens/s per N: ours, PyTorch eager, PyTorch compiled (median of repetitions, +- half the
#      relative range), and ours / each;
#   2. where our step goes (st-bench --parts, medians in ms): embeddings, attention sublayers,
#      FFNs, LM head and loss, the rest (LayerNorms, residuals, the autograd engine), optimizer.
#      Data loading is not part of st-bench's step (its tokens are in memory); st-train reports
#      it as data_ms in metrics.jsonl.
# Raw CSVs go to $OUT. Environment (defaults):
#   BUILD=build-perf THREADS=2 REPS=3 STEPS=2 WARMUP=1 NS="4096 16384 65536" D=256 LAYERS=4
#   HEADS=4 CHUNK=64 VOCAB=256 COMPILE=1 (0: leave out torch.compile) OUT=$BUILD/bench-lm
#   PYTHON (one that imports torch; otherwise scripts/torch_python.sh installs it)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-perf} THREADS=${THREADS:-2} REPS=${REPS:-3} STEPS=${STEPS:-2} WARMUP=${WARMUP:-1}
NS=${NS:-"4096 16384 65536"} D=${D:-256} LAYERS=${LAYERS:-4} HEADS=${HEADS:-4} CHUNK=${CHUNK:-64}
VOCAB=${VOCAB:-256} COMPILE=${COMPILE:-1} OUT=${OUT:-$BUILD/bench-lm}

if [[ ! -x $BUILD/bench/st-bench ]]; then
  echo "bench_lm_vs_torch: building st-bench in $BUILD" >&2
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DST_CUDA=OFF >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" --target st-bench >/dev/null
fi
PYTHON=$(bash scripts/torch_python.sh)

mkdir -p "$OUT"
rm -f "$OUT"/ours_*.csv "$OUT"/eager_*.csv "$OUT"/compile_*.csv
n_list=$(echo "$NS" | tr ' ' ',')
model=(--d "$D" --layers "$LAYERS" --heads "$HEADS" --vocab "$VOCAB" --chunk "$CHUNK" --n "$n_list"
       --steps "$STEPS" --warmup "$WARMUP" --threads "$THREADS")
echo "bench_lm_vs_torch: $(lscpu | sed -n 's/^Model name: *//p'), $THREADS threads, $REPS repetitions," \
     "$WARMUP+$STEPS steps each, N in {$NS}, d $D, $LAYERS layers, $HEADS heads, chunk $CHUNK, vocab $VOCAB" >&2
for rep in $(seq 1 "$REPS"); do
  echo "bench_lm_vs_torch: rep $rep/$REPS: ours" >&2
  "$BUILD/bench/st-bench" --task lm --kinds simpletron --parts "${model[@]}" --csv "$OUT/ours_$rep.csv" >/dev/null
  echo "bench_lm_vs_torch: rep $rep/$REPS: PyTorch eager" >&2
  "$PYTHON" bench/torch_lm.py "${model[@]}" > "$OUT/eager_$rep.csv"
  if [[ $COMPILE == 1 ]]; then
    echo "bench_lm_vs_torch: rep $rep/$REPS: PyTorch torch.compile" >&2
    "$PYTHON" bench/torch_lm.py "${model[@]}" --compile > "$OUT/compile_$rep.csv"
  fi
done

python3 - "$OUT" <<'PY'
import csv, glob, os, statistics, sys
from collections import defaultdict
out = sys.argv[1]
def load(prefix):
    rows = defaultdict(list)
    for f in glob.glob(os.path.join(out, prefix + "_*.csv")):
        for r in csv.DictReader(l for l in open(f) if not l.startswith("#")):
            if r["status"] == "ok":
                rows[int(r["n"])].append(r)
    return rows
ours, eager, comp = load("ours"), load("eager"), load("compile")
def med(rs, col):
    v = [float(r[col]) for r in rs]
    return statistics.median(v) if v else None
def spread(rs, col):
    v = [float(r[col]) for r in rs]
    return 100 * (max(v) - min(v)) / statistics.median(v) / 2 if len(v) > 1 else 0.0
def cell(rs):
    m = med(rs, "tokens_per_s")
    return f"{m:.0f} ±{spread(rs, 'tokens_per_s'):.0f}%" if m else "n/a"
def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "n/a"
print("\n## Causal LM training step, tokens/s (median of repetitions; ± half the relative range)\n")
print("| N | ours | PyTorch eager | PyTorch compiled | ours / eager | ours / compiled |")
print("|---|---|---|---|---|---|")
for n in sorted(ours):
    o, e, c = med(ours[n], "tokens_per_s"), med(eager.get(n, []), "tokens_per_s"), med(comp.get(n, []), "tokens_per_s")
    print(f"| {n} | {cell(ours[n])} | {cell(eager.get(n, []))} | {cell(comp.get(n, []))} | {ratio(o, e)} | {ratio(o, c)} |")
print("\n## Where our step goes (ms, forward + backward; medians)\n")
cols = ["embed_ms", "attention_ms", "ffn_ms", "head_ms", "other_ms", "opt_ms", "step_ms"]
print("| N | embeddings | attention | FFN | LM head + loss | other | optimizer | step |")
print("|---|---|---|---|---|---|---|---|")
for n in sorted(ours):
    print(f"| {n} | " + " | ".join(f"{med(ours[n], c):.0f}" for c in cols) + " |")
PY
