#!/usr/bin/env python3
"""Plots a run directory's metrics.jsonl as PNG curves: loss.png and accuracy.png (train and val),
lr.png and throughput.png (tokens/s). Metrics absent from the file are skipped.

Usage: python3 scripts/plot_metrics.py RUN_DIR [--out RUN_DIR/curves]
"""
import argparse
import json
import math
import sys
from pathlib import Path

# (file name, y-axis label, metric key, splits drawn on the figure)
FIGURES = [
    ("loss.png", "loss", "loss", ["train", "val"]),
    ("accuracy.png", "accuracy", "accuracy", ["train", "val"]),
    ("lr.png", "learning rate", "lr", ["train"]),
    ("throughput.png", "tokens/s", "tokens_per_s", ["train"]),
]


def fail(message, code=1):
    print(f"plot_metrics: error: {message}", file=sys.stderr)
    sys.exit(code)


def read_metrics(path):
    """Returns the records of a JSON-lines file, naming the line of any malformed one."""
    records = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                fail(f"{path}:{number}: malformed JSON ({e.msg})")
            if not isinstance(record, dict):
                fail(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
            records.append((number, record))
    return records


def series(records, path, split, key):
    """(steps, values) of `key` over the records of `split` that have both a step and the key."""
    steps, values = [], []
    for number, record in records:
        if record.get("split", "train") != split or key not in record or "step" not in record:
            continue
        step, value = record["step"], record[key]
        if value is None:  # a NaN/inf written by a JSON library as null
            continue
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (step, value)):
            fail(f"{path}:{number}: '{key}' and 'step' must be numbers")
        if math.isfinite(value):
            steps.append(step)
            values.append(value)
    return steps, values


def main():
    parser = argparse.ArgumentParser(description="Plot a run's metrics.jsonl as PNG curves.")
    parser.add_argument("run_dir", type=Path, help="run directory holding metrics.jsonl")
    parser.add_argument("--out", type=Path, help="output directory (default: RUN_DIR/curves)")
    args = parser.parse_args()

    if not args.run_dir.is_dir():
        fail(f"run directory '{args.run_dir}' does not exist")
    metrics_path = args.run_dir / "metrics.jsonl"
    if not metrics_path.is_file():
        fail(f"'{metrics_path}' does not exist (is '{args.run_dir}' a run directory?)")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        fail("matplotlib is not installed; install it with: python3 -m pip install matplotlib", 2)

    records = read_metrics(metrics_path)
    out_dir = args.out or args.run_dir / "curves"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, label, key, splits in FIGURES:
        curves = [(split, *series(records, metrics_path, split, key)) for split in splits]
        curves = [c for c in curves if c[1]]
        if not curves:
            continue
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for split, steps, values in curves:
            ax.plot(steps, values, label=split, marker="o" if len(steps) < 30 else None)
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.set_title(f"{label} — {args.run_dir.resolve().name}")
        ax.grid(True, alpha=0.3)
        if len(curves) > 1:
            ax.legend()
        fig.tight_layout()
        fig.savefig(out_dir / file_name, dpi=100)
        plt.close(fig)
        written.append(str(out_dir / file_name))
    if not written:
        fail(f"'{metrics_path}' has no loss, accuracy, lr or tokens_per_s values to plot")
    print("\n".join(written))


if __name__ == "__main__":
    main()
