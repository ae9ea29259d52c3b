#!/usr/bin/env python3
"""Scaling sweeps: st-bench-dist over a grid of process counts x sequence lengths N x widths d,
every dp x sp layout of each process count, then a report.

  python3 scripts/sweep.py run    --out DIR [--processes 1,2,4] [--n 1k,4k] [--d 64,128]
                                  [--batch 4] [--scaling strong|weak] [--steps 3]
                                  [--build build] [--mpirun "mpirun --oversubscribe --bind-to none"]
  python3 scripts/sweep.py report DIR
  python3 scripts/sweep.py sbatch --out DIR [grid options as for run] > sweep.sbatch

`run` executes the grid on this machine (mpirun for more than one process; --allow-run-as-root is
added for root), appending each point's rows to DIR/raw.csv, then writes the report. `sbatch`
prints a Slurm array job: one array task per grid point, each `srun --mpi=pmix -n P` on an
allocation of the largest P tasks, writing DIR/raw-<task>.csv; `report DIR` merges them once the
array has finished.

The report (DIR/sweep.csv, DIR/sweep.md and, where matplotlib is installed, PNG plots):
  throughput.png   tokens/s against processes, per layout kind (1 process with P threads,
                   dp only, sp only, and mixed), at the largest N and d;
  memory.png       peak allocator bytes per rank against N, dp only against sp only, at the
                   largest process count and d;
  efficiency.png   scaling efficiency against processes: strong, tokens/s over P times one process
                   with one thread at the same batch; weak (--scaling weak: batch = --batch x P),
                   over P times the 1-process point;
  sp_vs_dp.png     tokens/s of sp only over dp only at the largest process count, against N.
Strong scaling keeps the global batch at --batch (a layout whose dp does not divide it is
skipped); weak scaling grows it with P.
"""
import argparse
import csv
import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIELDS = ["processes", "threads", "dp", "sp", "n", "d", "batch", "step_s", "tokens_per_s",
          "peak_bytes_per_rank", "sp_bytes_per_rank", "skipped"]


def fail(message, code=1):
    print(f"sweep: error: {message}", file=sys.stderr)
    sys.exit(code)


def sizes(text, name):
    """'1k,4k,16384' -> [1024, 4096, 16384]; binary suffixes k, M as the programs read them."""
    out = []
    for item in text.split(","):
        item = item.strip()
        scale = {"k": 1024, "K": 1024, "m": 1 << 20, "M": 1 << 20}.get(item[-1:], 1)
        digits = item[:-1] if scale > 1 else item
        if not digits.isdigit() or int(digits) <= 0:
            fail(f"{name}: '{item}' is not a positive size (e.g. 1024, 4k)", 2)
        out.append(int(digits) * scale)
    return out


def grid(args):
    points = []
    for p in sizes(args.processes, "--processes"):
        for n in sizes(args.n, "--n"):
            for d in sizes(args.d, "--d"):
                batch = args.batch * p if args.scaling == "weak" else args.batch
                points.append((p, n, d, batch))
    return points


def bench_args(args, n, d, batch, csv_path):
    return ["--n", str(n), "--d", str(d), "--heads", str(args.heads), "--layers", str(args.layers),
            "--batch", str(batch), "--steps", str(args.steps), "--csv", str(csv_path)]


def run(args):
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    raw = out / "raw.csv"
    if raw.exists():
        fail(f"{raw} exists: choose another --out, or remove it to measure again", 2)
    program = Path(args.build) / "bench" / "st-bench-dist"
    if not program.exists():
        fail(f"{program} is not built (bash scripts/build.sh)", 2)
    mpirun = shlex.split(args.mpirun)
    if os.geteuid() == 0 and "--allow-run-as-root" not in mpirun:
        mpirun.append("--allow-run-as-root")
    points = grid(args)
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)  # st-bench-dist sets its threads itself
    for i, (p, n, d, batch) in enumerate(points, start=1):
        print(f"sweep: point {i}/{len(points)}: {p} process(es), N {n}, d {d}, batch {batch}", flush=True)
        command = ([] if p == 1 else mpirun + ["-np", str(p)]) + [str(program)] + bench_args(args, n, d, batch, raw)
        result = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        (out / f"point-{i:03d}.txt").write_text(" ".join(command) + "\n" + result.stdout)
        if result.returncode != 0:
            fail(f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}")
    (out / "scaling.txt").write_text(args.scaling + "\n")
    report(out)


def sbatch(args):
    points = grid(args)
    largest = max(p for p, _, _, _ in points)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)  # Slurm opens --output there before the script runs
    program = (Path(args.build) / "bench" / "st-bench-dist").resolve()
    lines = [
        "#!/usr/bin/env bash",
        f"# Scaling sweep, {len(points)} grid points (scripts/sweep.py sbatch); when every task has",
        f"# finished: python3 scripts/sweep.py report {out}",
        "#SBATCH --job-name=st-sweep",
        f"#SBATCH --array=0-{len(points) - 1}",
        f"#SBATCH --ntasks={largest}",
        "#SBATCH --cpus-per-task=1",
        f"#SBATCH --output={out}/slurm-%A_%a.out",
        "set -euo pipefail",
        f"mkdir -p {shlex.quote(str(out))}",
        f"echo {args.scaling} > {shlex.quote(str(out / 'scaling.txt'))}",
        "points=(",
    ]
    for p, n, d, batch in points:
        lines.append(f'  "{p} {n} {d} {batch}"')
    lines += [
        ")",
        "read -r P N D BATCH <<< \"${points[$SLURM_ARRAY_TASK_ID]}\"",
        "export SRUN_CPUS_PER_TASK=${SLURM_CPUS_PER_TASK:-1}",
        f"srun --mpi=pmix -n \"$P\" {shlex.quote(str(program))} --n \"$N\" --d \"$D\" --heads {args.heads} "
        f"--layers {args.layers} --batch \"$BATCH\" --steps {args.steps} "
        f"--csv {shlex.quote(str(out))}/raw-$SLURM_ARRAY_TASK_ID.csv",
    ]
    print("\n".join(lines))


def read_rows(out):
    rows, invocation = [], -1
    files = sorted(out.glob("raw*.csv"))
    if not files:
        fail(f"{out} holds no raw*.csv (run the sweep first)", 2)
    for f in files:
        with open(f, newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames != FIELDS:
                fail(f"{f}: unexpected columns {reader.fieldnames} (expected {FIELDS})")
            for number, r in enumerate(reader, start=2):
                try:
                    row = {k: int(r[k]) for k in ("processes", "threads", "dp", "sp", "n", "d", "batch",
                                                  "peak_bytes_per_rank", "sp_bytes_per_rank")}
                    row.update(step_s=float(r["step_s"]), tokens_per_s=float(r["tokens_per_s"]),
                               skipped=r["skipped"])
                except (TypeError, ValueError) as e:
                    fail(f"{f}:{number}: malformed row ({e})")
                if row["processes"] == 1 and row["threads"] == 1:  # each invocation's first row
                    invocation += 1
                row["invocation"] = invocation
                rows.append(row)
    return rows


def kind(row):
    if row["processes"] == 1:
        return "1 process x 1 thread" if row["threads"] == 1 else "1 process x P threads"
    if row["sp"] == 1:
        return "dp only"
    if row["dp"] == 1:
        return "sp only"
    return "dp x sp"


def with_efficiency(rows, scaling):
    """Adds strong_eff (against the same invocation's 1 process, 1 thread: same batch, N, d,
    measured beside it) and weak_eff (against the 1-process point of the grid, weak scaling)."""
    single = {r["invocation"]: r for r in rows if r["processes"] == 1 and r["threads"] == 1}
    base = {(r["n"], r["d"]): r for r in rows if r["processes"] == 1 and r["threads"] == 1 and r["batch"] ==
            min(x["batch"] for x in rows if x["n"] == r["n"] and x["d"] == r["d"])}
    for r in rows:
        P = r["processes"] * r["threads"]
        s = single.get(r["invocation"])
        ok = not r["skipped"] and r["tokens_per_s"] > 0
        r["strong_eff"] = r["tokens_per_s"] / (P * s["tokens_per_s"]) if ok and s and s["tokens_per_s"] > 0 else None
        b = base.get((r["n"], r["d"]))
        r["weak_eff"] = (r["tokens_per_s"] / (P * b["tokens_per_s"])
                         if scaling == "weak" and ok and b and b["tokens_per_s"] > 0 else None)
    return rows


def fmt(value, spec):
    return "" if value is None else format(value, spec)


def report(out):
    out = Path(out)
    scaling = (out / "scaling.txt").read_text().strip() if (out / "scaling.txt").exists() else "strong"
    rows = with_efficiency(read_rows(out), scaling)
    # One row per (processes, threads, dp, sp, n, d, batch): a 1-process row repeats in every
    # invocation at that size; keep the first.
    seen, unique = set(), []
    for r in rows:
        key = (r["processes"], r["threads"], r["dp"], r["sp"], r["n"], r["d"], r["batch"])
        if key not in seen:
            seen.add(key)
            unique.append(r)
    unique.sort(key=lambda r: (r["n"], r["d"], r["processes"] * r["threads"], r["processes"], -r["dp"]))
    with open(out / "sweep.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["layout"] + FIELDS + ["strong_eff", "weak_eff"])
        for r in unique:
            w.writerow([kind(r)] + [r[k] for k in FIELDS] + [fmt(r["strong_eff"], ".4f"), fmt(r["weak_eff"], ".4f")])
    lines = [f"Scaling sweep ({scaling} scaling), st-bench-dist: SimpleTRON classifier step (forward, backward, "
             "gradient sync), median step time.", "",
             "| N | d | batch | layout | processes x threads | dp x sp | step s | tokens/s | peak MiB per rank | "
             "SP bytes per rank | strong eff. | weak eff. |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in unique:
        if r["skipped"]:
            lines.append(f"| {r['n']} | {r['d']} | {r['batch']} | {kind(r)} | {r['processes']} x {r['threads']} | "
                         f"{r['dp']} x {r['sp']} | skipped: {r['skipped']} | | | | | |")
            continue
        lines.append(f"| {r['n']} | {r['d']} | {r['batch']} | {kind(r)} | {r['processes']} x {r['threads']} | "
                     f"{r['dp']} x {r['sp']} | {r['step_s']:.4f} | {r['tokens_per_s']:.0f} | "
                     f"{r['peak_bytes_per_rank'] / 2**20:.1f} | {r['sp_bytes_per_rank']} | "
                     f"{fmt(r['strong_eff'], '.2f')} | {fmt(r['weak_eff'], '.2f')} |")
    (out / "sweep.md").write_text("\n".join(lines) + "\n")
    print(f"sweep: {out / 'sweep.csv'}, {out / 'sweep.md'}")
    plot(out, unique, scaling)


def plot(out, rows, scaling):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("sweep: matplotlib is not installed: no PNG plots (python3 -m pip install matplotlib)")
        return
    ok = [r for r in rows if not r["skipped"]]
    if not ok:
        print("sweep: every point was skipped: no plots")
        return
    n_max, d_max = max(r["n"] for r in ok), max(r["d"] for r in ok)
    p_max = max(r["processes"] for r in ok)
    kinds = ["1 process x 1 thread", "1 process x P threads", "dp only", "sp only", "dp x sp"]

    def curve(ax, select, x_of, y_of, label):
        points = sorted((x_of(r), y_of(r)) for r in ok if select(r) and y_of(r) is not None)
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)

    fig, ax = plt.subplots(figsize=(6, 4))
    for k in kinds:
        curve(ax, lambda r, k=k: kind(r) == k and r["n"] == n_max and r["d"] == d_max,
              lambda r: r["processes"] * r["threads"], lambda r: r["tokens_per_s"], k)
    ax.set(xlabel="processes (or threads of 1 process)", ylabel="tokens/s", title=f"throughput, N {n_max}, d {d_max}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "throughput.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for k in ["dp only", "sp only"]:
        curve(ax, lambda r, k=k: kind(r) == k and r["processes"] == p_max and r["d"] == d_max,
              lambda r: r["n"], lambda r: r["peak_bytes_per_rank"] / 2**20, f"{k}, {p_max} processes")
    curve(ax, lambda r: kind(r) == "1 process x 1 thread" and r["d"] == d_max, lambda r: r["n"],
          lambda r: r["peak_bytes_per_rank"] / 2**20, "1 process")
    ax.set(xlabel="N", ylabel="peak MiB per rank", xscale="log", yscale="log", title=f"memory per rank, d {d_max}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "memory.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for k in ["dp only", "sp only"]:
        curve(ax, lambda r, k=k: kind(r) == k and r["n"] == n_max and r["d"] == d_max,
              lambda r: r["processes"], lambda r: r["strong_eff"], f"{k}, strong")
        if scaling == "weak":
            curve(ax, lambda r, k=k: kind(r) == k and r["n"] == n_max and r["d"] == d_max,
                  lambda r: r["processes"], lambda r: r["weak_eff"], f"{k}, weak")
    ax.set(xlabel="processes", ylabel="efficiency", ylim=(0, 1.2), title=f"scaling efficiency, N {n_max}, d {d_max}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "efficiency.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    dp = {(r["n"], r["d"]): r["tokens_per_s"] for r in ok if kind(r) == "dp only" and r["processes"] == p_max}
    ratio = sorted((r["n"], r["tokens_per_s"] / dp[(r["n"], r["d"])]) for r in ok
                   if kind(r) == "sp only" and r["processes"] == p_max and r["d"] == d_max and (r["n"], r["d"]) in dp)
    if ratio:
        ax.plot([x for x, _ in ratio], [y for _, y in ratio], marker="o", label=f"{p_max} processes, d {d_max}")
        ax.legend()
    ax.axhline(1.0, color="gray", linewidth=0.8)
    ax.set(xlabel="N", ylabel="tokens/s, sp only / dp only", xscale="log", title="sequence against data parallelism")
    fig.tight_layout()
    fig.savefig(out / "sp_vs_dp.png", dpi=120)
    plt.close(fig)
    print(f"sweep: plots in {out}: throughput.png, memory.png, efficiency.png, sp_vs_dp.png")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "sbatch"):
        p = sub.add_parser(name)
        p.add_argument("--out", required=True, help="output directory")
        p.add_argument("--processes", default="1,2,4", help="process counts (default 1,2,4)")
        p.add_argument("--n", default="1k,4k", help="sequence lengths (default 1k,4k)")
        p.add_argument("--d", default="64", help="model widths (default 64)")
        p.add_argument("--heads", type=int, default=4)
        p.add_argument("--layers", type=int, default=2)
        p.add_argument("--batch", type=int, default=4, help="global batch (weak scaling: per process)")
        p.add_argument("--scaling", choices=["strong", "weak"], default="strong")
        p.add_argument("--steps", type=int, default=3, help="measured steps per point (median)")
        p.add_argument("--build", default=str(ROOT / "build"), help="build directory (default build)")
        if name == "run":
            p.add_argument("--mpirun", default="mpirun --oversubscribe --bind-to none",
                           help="launcher for more than one process")
    rep = sub.add_parser("report")
    rep.add_argument("out", help="a sweep's output directory")
    args = parser.parse_args()
    if args.command == "report":
        report(args.out)
        return
    if args.batch < 1 or args.steps < 1 or args.heads < 1 or args.layers < 1:
        fail("--batch, --steps, --heads and --layers must be positive", 2)
    (run if args.command == "run" else sbatch)(args)


if __name__ == "__main__":
    main()
