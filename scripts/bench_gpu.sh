#!/usr/bin/env bash
# GPU benchmarks: ours against PyTorch on the same GPU, alternating (ours, then PyTorch, per
# attention kind and repetition), then Markdown tables:
#   1. training step: st-bench --device cuda against bench/torch_reference.py eager and
#      torch.compile (same model, same FLOP count): tokens/s, MFU, ratios. d 1024, 16 heads,
#      d_ff 4096, 4 layers, B * N = 65536 tokens per step, simpletron and softmax (PyTorch's
#      softmax via SDPA, i.e. flash attention; ours via cuDNN fused attention when the build has
#      it, else forming N x N and skipping what does not fit: st-bench's log says which);
#   2. attention alone: st-bench-attention (SimpleTRON, forward + backward) against SDPA
#      restricted to flash attention and to cuDNN attention (bench/torch_attention.py) at the
#      same (B, H, N, d_h): ms and the ratio (> 1: ours faster).
# PyTorch columns are skipped, with the reason, when torch with CUDA is not importable (nothing
# is installed here: a GPU machine may have no network). Every command runs under `timeout`
# within --budget; a short budget shortens the N lists and restricts torch.compile to one N.
#   scripts/bench_gpu.sh [--budget SECONDS] [--dry-run] [--cpu-smoke] [-h|--help]
#     --budget S    time for the whole script (default 600)
#     --dry-run     print the commands it would run, run nothing (no GPU needed)
#     --cpu-smoke   the whole pipeline on the CPU at tiny shapes (checks the script and tables)
# Environment (defaults): BUILD=build-gpu BIN=$BUILD/bench (where st-bench and st-bench-attention
#   are; a bundle's bin/) OUT=$BUILD/bench-gpu REPS=1 PRECISION=bf16
#   D=1024 HEADS=16 LAYERS=4 TOKENS=65536 NS="1024 4096 16384 65536" KINDS="simpletron softmax"
#   ATT_NS="1024 2048 4096 16384 65536" STEPS=5 WARMUP=2 PEAK_TFLOPS=989 COMPILE_NS (all N, or
#   4096 alone when the budget is under 420 s; "none" skips torch.compile) TORCH_FIRST_ROW=1
#   (PyTorch's last block on position 0 only, as ours runs; 0: its plain model) WHOLE_STEP=1 (ours
#   timed as st-train's whole step: loader, masks, metrics, its one host read, logging; PyTorch's
#   rows time its model step alone, so the ratio is conservative; 0: our model step alone)
# Exit: 0 done, 2 bad arguments, 3 no GPU visible, 1 our benchmark binaries missing.
set -uo pipefail
cd "$(dirname "$0")/.."

budget=600 dry=0 smoke=0
while (( $# )); do
  case "$1" in
    --budget) [[ ${2:-} =~ ^[0-9]+$ ]] || { echo "bench_gpu: --budget needs a number of seconds, got '${2:-}'"; exit 2; }
              budget=$2; shift ;;
    --dry-run) dry=1 ;;
    --cpu-smoke) smoke=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "bench_gpu: unknown argument '$1' (valid: --budget S, --dry-run, --cpu-smoke, --help)"; exit 2 ;;
  esac
  shift
done

BUILD=${BUILD:-build-gpu} BIN=${BIN:-$BUILD/bench} OUT=${OUT:-$BUILD/bench-gpu} REPS=${REPS:-1} PRECISION=${PRECISION:-bf16}
D=${D:-1024} HEADS=${HEADS:-16} LAYERS=${LAYERS:-4} TOKENS=${TOKENS:-65536} STEPS=${STEPS:-5}
WARMUP=${WARMUP:-2} PEAK_TFLOPS=${PEAK_TFLOPS:-989} KINDS=${KINDS:-"simpletron softmax"} WHOLE_STEP=${WHOLE_STEP:-1}
device=cuda att_dtype=bf16 att_backends=flash,cudnn
if (( smoke )); then  # tiny shapes on the CPU; the flash backend has a CPU kernel in PyTorch
  device=cpu D=64 HEADS=4 LAYERS=1 TOKENS=256 STEPS=1 WARMUP=1 att_dtype=fp32 att_backends=flash,math
  NS=${NS:-"64 128"} ATT_NS=${ATT_NS:-"64 128"} COMPILE_NS=${COMPILE_NS:-128}
fi
# Shape lists by budget: the full lists need about 7 minutes with torch.compile on an H200.
if (( budget >= 420 )); then
  NS=${NS:-"1024 4096 16384 65536"} ATT_NS=${ATT_NS:-"1024 2048 4096 16384 65536"}
  COMPILE_NS=${COMPILE_NS:-all}
elif (( budget >= 150 )); then
  NS=${NS:-"1024 4096 16384 65536"} ATT_NS=${ATT_NS:-"1024 2048 4096 16384 65536"} COMPILE_NS=${COMPILE_NS:-4096}
else
  NS=${NS:-"1024 4096"} ATT_NS=${ATT_NS:-"1024 2048 4096"} COMPILE_NS=${COMPILE_NS:-none}
fi
start=$(date +%s)
left() { echo $(( budget - ($(date +%s) - start) )); }
note() { echo "bench_gpu: $*" >&2; }
csv_n() { echo "$1" | tr ' ' ','; }

# ---- GPU and programs ---------------------------------------------------------------------------
if (( !smoke && !dry )); then
  gpu=""
  command -v nvidia-smi >/dev/null 2>&1 &&
    gpu=$(timeout 20 nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
  if [[ -z $gpu ]]; then
    note "no NVIDIA GPU is visible (nvidia-smi $(command -v nvidia-smi >/dev/null 2>&1 && echo 'lists none' || echo 'is not installed')); these benchmarks need one."
    note "on a GPU machine: build with -DST_CUDA=ON (bash tests/gpu/run.sh --build-only) and rerun; here: --dry-run or --cpu-smoke."
    exit 3
  fi
  note "GPU: $gpu"
fi
ours="$BIN/st-bench" ours_att="$BIN/st-bench-attention"
if (( !dry )); then
  for b in "$ours" "$ours_att"; do
    [[ -x $b ]] || { note "$b is not built (cmake --build $BUILD --target st-bench st-bench-attention)"; exit 1; }
  done
fi
torch_reason=""
if (( smoke )); then
  python3 -c "import torch" 2>/dev/null || torch_reason="torch is not importable"
elif ! (( dry )); then
  # The reason on stdout only (import warnings on stderr are not a reason to skip).
  torch_reason=$(python3 - 2>/dev/null <<'EOF' || echo "python3 failed while importing torch"
try:
    import torch
except Exception as e:
    print(f"torch is not importable ({type(e).__name__}: {e})")
else:
    if not torch.cuda.is_available():
        print(f"torch {torch.__version__} sees no CUDA device (CUDA build: {torch.version.cuda})")
EOF
)
fi
[[ -n $torch_reason ]] && note "PyTorch columns skipped: $torch_reason"

if (( !dry )); then
  mkdir -p "$OUT"
  rm -f "$OUT"/*.csv "$OUT"/*.log "$OUT"/tables.md "$OUT"/skips.txt
  printf '%s\n' "$torch_reason" > "$OUT/torch_reason.txt"
fi

# run NAME WANT CMD...: CMD under timeout (WANT seconds or what is left), stdout to $OUT/NAME.csv.
run() {
  local name=$1 want=$2; shift 2
  if (( dry )); then echo "$*  > $OUT/$name.csv"; return; fi
  local l; l=$(left)
  (( l < want )) && want=$l
  if (( want < 5 )); then
    note "$name: skipped (out of the --budget of $budget s)"
    echo "$name: out of the time budget" >> "$OUT/skips.txt"
    return
  fi
  note "$name (at most $want s): $*"
  timeout "$want" "$@" > "$OUT/$name.csv" 2> "$OUT/$name.log"
  local rc=$?
  if (( rc != 0 )); then
    note "$name: exit $rc$( (( rc == 124 )) && echo ' (timed out)'); last lines of $OUT/$name.log:"
    tail -n 5 "$OUT/$name.log" >&2
    echo "$name: exit $rc$( (( rc == 124 )) && echo ' (timed out)')" >> "$OUT/skips.txt"
  fi
}

note "training step: d $D, $HEADS heads, $LAYERS layers, $TOKENS tokens/step, N {$NS}, kinds {$KINDS}, $PRECISION, $REPS repetition(s); budget $budget s"
# Order by cost: ours and PyTorch eager, then attention alone, then torch.compile (tens of
# seconds of compilation per shape) last, so a short budget loses the compile columns first.
step_args() {  # KIND NS
  echo --d "$D" --heads "$HEADS" --layers "$LAYERS" --tokens-per-step "$TOKENS" --n "$(csv_n "$2")" --kinds "$1" \
    --steps "$STEPS" --warmup "$WARMUP" --device "$device" --precision "$PRECISION" --peak-tflops "$PEAK_TFLOPS"
}
torch_args() {  # KIND: softmax as SDPA; the last block on position 0 only unless TORCH_FIRST_ROW=0
  [[ $1 == softmax ]] && echo --sdpa
  [[ ${TORCH_FIRST_ROW:-1} == 1 ]] && echo --first-row-only
}
for rep in $(seq 1 "$REPS"); do
  for kind in $KINDS; do
    run "ours_${kind}_$rep" 150 "$ours" $(step_args "$kind" "$NS") $( (( WHOLE_STEP )) && echo --whole-step)
    [[ -n $torch_reason ]] && continue
    run "eager_${kind}_$rep" 150 python3 bench/torch_reference.py $(step_args "$kind" "$NS") $(torch_args "$kind")
  done
done

note "attention alone: H $HEADS, d_h 64, $TOKENS tokens, N {$ATT_NS}; ours $PRECISION products, PyTorch $att_dtype ($att_backends)"
for rep in $(seq 1 "$REPS"); do
  run "att_ours_$rep" 90 "$ours_att" --device "$device" --precision "$PRECISION" --heads "$HEADS" --head-dim 64 \
    --tokens "$TOKENS" --n "$(csv_n "$ATT_NS")" --steps $((STEPS * 2)) --warmup "$WARMUP"
  [[ -n $torch_reason ]] && continue
  run "att_torch_$rep" 90 python3 bench/torch_attention.py --device "$device" --dtype "$att_dtype" \
    --backends "$att_backends" --heads "$HEADS" --head-dim 64 --tokens "$TOKENS" --n "$(csv_n "$ATT_NS")" \
    --steps $((STEPS * 2)) --warmup "$WARMUP"
done

if [[ $COMPILE_NS != none && -z $torch_reason ]]; then
  cns=$NS; [[ $COMPILE_NS != all ]] && cns=$COMPILE_NS
  note "torch.compile at N {$cns}"
  for rep in $(seq 1 "$REPS"); do
    for kind in $KINDS; do
      run "compile_${kind}_$rep" 240 python3 bench/torch_reference.py $(step_args "$kind" "$cns") $(torch_args "$kind") \
        --compile
    done
  done
fi
(( dry )) && exit 0

python3 - "$OUT" "$PEAK_TFLOPS" "${TORCH_FIRST_ROW:-1}" <<'EOF' | tee "$OUT/tables.md"
import csv, glob, os, statistics, sys
from collections import defaultdict
out, peak, first_row = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
reason = open(os.path.join(out, "torch_reason.txt")).read().strip()

def load(pattern, key):
    rows = defaultdict(list)
    for f in sorted(glob.glob(os.path.join(out, pattern))):
        for r in csv.DictReader(l for l in open(f) if not l.startswith("#")):
            rows[key(r)].append(r)
    return rows

def med(rs, col):
    v = [float(r[col]) for r in rs if r["status"] == "ok" and r.get(col)]
    return statistics.median(v) if v else None

def why(rs, missing):
    notes = [r.get("note", "") for r in rs if r["status"] != "ok"]
    return f"skipped ({notes[0]})" if notes and notes[0] else missing

def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "n/a"

step = lambda r: (r["kind"], int(r["n"]))
ours, eager, comp = load("ours_*.csv", step), load("eager_*.csv", step), load("compile_*.csv", step)
torch_missing = f"n/a ({reason})" if reason else "n/a (no result)"
comp_missing = "n/a (torch.compile not run at this N)" if not reason else torch_missing
keys = sorted(set(ours) | set(eager), key=lambda k: (k[0], k[1]))
first = next((r for rs in ours.values() for r in rs), None) or next((r for rs in eager.values() for r in rs), None)
if first:
    print(f"\n### Training step ({first.get('device', 'cpu')}, {first.get('precision', 'fp32')} matrix products; d {first['d']}, "
          f"{first['heads']} heads, {first['layers']} layers; MFU against {peak} TFLOP/s)\n")
    print("| kind | N | B | ours tok/s | ours MFU | ours peak GiB | PyTorch eager tok/s | eager MFU | ours / eager "
          "| torch.compile tok/s | ours / compile |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for k in keys:
        o, e, c = ours.get(k, []), eager.get(k, []), comp.get(k, [])
        ot, et, ct = med(o, "tokens_per_s"), med(e, "tokens_per_s"), med(c, "tokens_per_s")
        om, em, op = med(o, "mfu"), med(e, "mfu"), med(o, "peak_bytes")
        batch = (o or e)[0]["batch"]
        cell = lambda v, rs, miss: f"{v:.0f}" if v is not None else why(rs, miss)
        pct = lambda v: f"{100 * v:.1f}%" if v is not None else ""
        peak = f"{op / 2**30:.1f}" if op is not None else ""
        print(f"| {k[0]} | {k[1]} | {batch} | {cell(ot, o, 'no result')} | {pct(om)} | {peak} | "
              f"{cell(et, e, torch_missing)} | {pct(em)} | {ratio(ot, et)} | {cell(ct, c, comp_missing)} | "
              f"{ratio(ot, ct)} |")
    print("\nPyTorch: the same model (bench/torch_reference.py) under torch.autocast for bf16; its softmax "
          "attention is F.scaled_dot_product_attention (flash). "
          + ("Both compute only position 0 in the last block (the CLS head reads nothing else). "
             if first_row else "Ours computes only position 0 in the last block, PyTorch every row. ")
          + ("Ours is st-train's whole step (loader, masks, metrics, its one host read, logging; "
             "`st-bench --whole-step`), PyTorch's its model step alone. "
             if any("whole st-train step" in r.get("note", "") for rs in ours.values() for r in rs) else "")
          + "MFU counts the nominal FLOPs of every row of every block (`st-bench --help`), so a bf16 "
          "peak is the yardstick for fp32 runs too. Ours / X > 1: ours faster.")
else:
    print("\n### Training step: no results\n")

att = lambda r: (r["impl"], int(r["n"]))
aours, atorch = load("att_ours_*.csv", att), load("att_torch_*.csv", att)
ns = sorted({n for (_, n) in aours} | {n for (_, n) in atorch})
impls = sorted({i for (i, _) in atorch}, key=lambda i: ["flash", "cudnn", "efficient", "math"].index(i))
if ns:
    any_row = next(iter(aours.values()), None) or next(iter(atorch.values()))
    print(f"\n### Attention alone, forward + backward (H {any_row[0]['h']}, d_h {any_row[0]['dh']}; "
          f"ours: SimpleTRON, {any_row[0]['precision']} products, f32 tensors; PyTorch: SDPA)\n")
    head = "| N | B | ours ms |" + "".join(f" {i} ms | {i} / ours |" for i in impls or ["flash"])
    print(head)
    print("|" + "---|" * (3 + 2 * max(len(impls), 1)))
    for n in ns:
        o = aours.get(("simpletron", n), [])
        om = med(o, "total_ms")
        rows_n = o + [r for i in impls for r in atorch.get((i, n), [])]
        b = rows_n[0]["b"] if rows_n else "?"
        line = f"| {n} | {b} | {f'{om:.3f}' if om is not None else why(o, 'no result')} |"
        if not impls:
            line += f" {torch_missing} | |"
        for i in impls:
            t = atorch.get((i, n), [])
            tm = med(t, "total_ms")
            line += f" {f'{tm:.3f}' if tm is not None else why(t, 'no result')} | {ratio(tm, om)} |"
        print(line)
    print("\nX / ours > 1: ours faster (target: faster than flash attention from N = 2048).")
skips = os.path.join(out, "skips.txt")
if os.path.exists(skips):
    print("\nSteps that did not finish: " + "; ".join(l.strip() for l in open(skips) if l.strip()))
EOF
note "tables: $OUT/tables.md; raw CSVs and logs: $OUT ($(( $(date +%s) - start )) s)"
