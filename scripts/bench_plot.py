#!/usr/bin/env python3
"""PNG plots from st-bench CSVs: time per token vs N and memory per token vs N, log-log, one line
per attention kind (and per d when the CSVs hold several widths). Skipped shapes are left out and
listed under the plot. Several CSVs (repetitions) are merged by taking the median per point.

  python3 scripts/bench_plot.py out.csv [more.csv ...] [--out bench-out/]
Writes time_per_token.png and memory_per_token.png into --out. Needs matplotlib
(python3 -m pip install matplotlib).
"""
import argparse
import csv
import os
import statistics
import sys
from collections import defaultdict

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("bench_plot: matplotlib is not installed; install it with: python3 -m pip install matplotlib")


def main():
    p = argparse.ArgumentParser(description="plots from st-bench CSVs")
    p.add_argument("csv", nargs="+")
    p.add_argument("--out", default=".")
    a = p.parse_args()
    points = defaultdict(lambda: defaultdict(list))  # (kind, d) -> n -> [(us/token, bytes/token)]
    skipped = []
    for f in a.csv:
        for r in csv.DictReader(l for l in open(f) if not l.startswith("#")):
            key = (r["kind"], int(r["d"]))
            if r["status"] != "ok":
                skipped.append(f"{r['kind']} d={r['d']} N={r['n']}: {r.get('note', '')}")
                continue
            points[key][int(r["n"])].append((1e6 / float(r["tokens_per_s"]), float(r["bytes_per_token"])))
    if not points:
        sys.exit("bench_plot: no measured rows in " + ", ".join(a.csv))
    os.makedirs(a.out, exist_ok=True)
    several_d = len({d for _, d in points}) > 1
    for idx, (name, ylabel, fname) in enumerate([
            ("time per token", "microseconds per token (fwd + bwd + AdamW)", "time_per_token.png"),
            ("activation memory per token", "bytes per token (peak over the step)", "memory_per_token.png")]):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for (kind, d), by_n in sorted(points.items()):
            ns = sorted(by_n)
            ys = [statistics.median(v[idx] for v in by_n[n]) for n in ns]
            label = f"{kind} (d {d})" if several_d else kind
            ax.plot(ns, ys, marker="o", label=label)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length N")
        ax.set_ylabel(ylabel)
        ax.set_title(f"st-bench: {name} vs N")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        if skipped:
            fig.text(0.01, 0.01, "skipped: " + "; ".join(sorted(set(skipped)))[:300], fontsize=6, wrap=True)
        fig.tight_layout(rect=(0, 0.05 if skipped else 0, 1, 1))
        path = os.path.join(a.out, fname)
        fig.savefig(path, dpi=120)
        print(f"bench_plot: wrote {path}")


if __name__ == "__main__":
    main()
