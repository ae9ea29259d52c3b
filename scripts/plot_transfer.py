#!/usr/bin/env python3
"""Transfer against scratch: reads the metrics.jsonl of two or more st-train runs of the embedding
task, prints their validation loss (1 - cosine) and cosine to the teacher at every evaluated
step side by side, and draws both curves into one PNG (loss and cosine against steps).

Usage: python3 scripts/plot_transfer.py RUN_DIR [RUN_DIR ...] --out transfer.png
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plot_metrics import read_metrics  # noqa: E402  (JSON lines with line-numbered errors)


def fail(message, code=1):
    print(f"plot_transfer: error: {message}", file=sys.stderr)
    sys.exit(code)


def val_curve(run_dir):
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        fail(f"{path}: not found (is {run_dir} an st-train run directory?)")
    steps, loss, cosine = [], [], []
    for _, r in read_metrics(path):
        if r.get("split") == "val" and "cosine" in r:
            steps.append(r["step"])
            loss.append(r["loss"])
            cosine.append(r["cosine"])
    if not steps:
        fail(f"{path}: no validation cosine records (model.task: embedding with data.val?)")
    return steps, loss, cosine


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="st-train run directories")
    ap.add_argument("--out", required=True, help="PNG file to write")
    args = ap.parse_args()
    curves = {Path(r).name: val_curve(r) for r in args.runs}

    names = list(curves)
    all_steps = sorted({s for c in curves.values() for s in c[0]})
    print("validation cosine to the teacher (loss = 1 - cosine)")
    print("step  " + "  ".join(f"{n:>24}" for n in names))
    for s in all_steps:
        cells = []
        for n in names:
            st, _, cos = curves[n]
            cells.append(f"{cos[st.index(s)]:>24.4f}" if s in st else " " * 24)
        print(f"{s:>4}  " + "  ".join(cells))

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        fail("matplotlib is not installed; install it with: python3 -m pip install matplotlib", 2)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for n, (st, loss, cos) in curves.items():
        axes[0].plot(st, loss, marker="o", markersize=3, label=n)
        axes[1].plot(st, cos, marker="o", markersize=3, label=n)
    axes[0].set_ylabel("validation loss (1 - cosine)")
    axes[1].set_ylabel("validation cosine to the teacher")
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("SimpleTRON student of all-MiniLM-L6-v2: teacher's weights vs random initialisation")
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
