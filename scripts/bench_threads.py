#!/usr/bin/env python3
"""Threads per rank: the automatic thread count against the best hand-set OMP_NUM_THREADS.

Trains configs/quickstart.yaml for --steps steps in each launch layout (st-train alone, mpirun
with 1, 2 and 4 processes, 4 oversubscribed on a 2-CPU machine), with the default (no thread
setting) and with every hand-set OMP_NUM_THREADS that does not put more than two threads on a
CPU, alternating their order from pair to pair. Also the default with OMP_WAIT_POLICY=passive
(idle OpenMP threads sleep at once instead of spinning). Prints tokens/s (the medians of --pairs
runs, measured after the first logged interval) and the ratio of the default to the best
hand-set value, as a Markdown table.

  python3 scripts/bench_threads.py [--pairs 5] [--steps 300] [--build build] [--layouts a,b]

Needs the quickstart data (scripts/quickstart.sh makes it, or this script does).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "data/generated/quickstart")

# name -> (ranks, launcher arguments before the program, extra st-train arguments)
LAYOUTS = {
    "alone": (1, [], []),
    "np1": (1, ["mpirun", "-np", "1"], []),
    "np2": (2, ["mpirun", "-np", "2"], []),
    "np2-unbound": (2, ["mpirun", "-np", "2", "--bind-to", "none"], []),
    "np2-sp2": (2, ["mpirun", "-np", "2"], ["--set", "distributed.sp=2"]),
    "np4": (4, ["mpirun", "-np", "4", "--oversubscribe"], []),
    "np4-dp2xsp2": (4, ["mpirun", "-np", "4", "--oversubscribe"], ["--set", "distributed.sp=2"]),
}
LABELS = {
    "alone": "`st-train` (no launcher)",
    "np1": "`mpirun -np 1`",
    "np2": "`mpirun -np 2`",
    "np2-unbound": "`mpirun -np 2 --bind-to none`",
    "np2-sp2": "`mpirun -np 2`, sp 2",
    "np4": "`mpirun -np 4 --oversubscribe`",
    "np4-dp2xsp2": "`mpirun -np 4 --oversubscribe`, dp 2 x sp 2",
}


def tokens_per_second(run_dir):
    """Tokens/s of the training loop after its first logged interval (start-up excluded):
    every interval holds the same number of steps, so this is the harmonic mean of the rows."""
    rows = []
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for line in f:
            row = json.loads(line)
            if row.get("split") == "train":
                rows.append(row["tokens_per_s"])
    rows = rows[1:] if len(rows) > 1 else rows
    if not rows:
        raise RuntimeError(f"{run_dir}: no training rows in metrics.jsonl")
    return len(rows) / sum(1.0 / r for r in rows)


def run(build, layout, env_extra, steps, work):
    ranks, launcher, extra = LAYOUTS[layout]
    run_dir = tempfile.mkdtemp(dir=work)
    shutil.rmtree(run_dir)
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "SLURM_CPUS_PER_TASK")}
    env.update(env_extra)
    env.update(ST_PROGRESS="plain", OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    args = list(launcher)
    for key in env_extra:  # mpirun passes these on to every rank
        if launcher:
            args += ["-x", key]
    args += [os.path.join(build, "launch/st-train"), os.path.join(ROOT, "configs/quickstart.yaml"),
             "--set", f"run_dir={run_dir}", "--set", f"train.steps={steps}", "--set", "train.eval_every=0",
             "--set", "train.checkpoint_every=0", "--set", f"train.log_every={max(steps // 6, 1)}",
             "--set", "data.val=", "--set", "data.test="] + extra
    out = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    threads = json.load(open(os.path.join(run_dir, "results.json"))).get("threads_per_rank")
    tps = tokens_per_second(run_dir)
    shutil.rmtree(run_dir)
    return tps, threads


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=5)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--build", default=os.path.join(ROOT, os.environ.get("BUILD_DIR", "build")))
    p.add_argument("--layouts", default="alone,np1,np2,np2-unbound,np2-sp2,np4,np4-dp2xsp2")
    a = p.parse_args()
    layouts = a.layouts.split(",")
    for name in layouts:
        if name not in LAYOUTS:
            sys.exit(f"bench_threads: unknown layout '{name}' (known: {', '.join(LAYOUTS)})")
    if not os.path.exists(os.path.join(DATA, "test-00000.h5")):
        subprocess.run([os.path.join(a.build, "launch/st-data"), "listops", "--out", DATA, "--train", "20000",
                        "--val", "1000", "--test", "1000", "--max-len", "64", "--min-len", "8", "--max-depth", "4",
                        "--max-args", "4", "--seed", "1", "--quiet"], check=True)
    cpus = len(os.sched_getaffinity(0))
    print(f"bench_threads: {cpus} CPUs, {a.pairs} alternating pairs of {a.steps} steps per setting", file=sys.stderr)
    work = tempfile.mkdtemp(prefix="bench-threads-")
    rows = []
    try:
        for layout in layouts:
            ranks = LAYOUTS[layout][0]
            # Hand-set counts with at most two threads per CPU (more only repeats the 76x case).
            handset = [t for t in range(1, cpus + 1) if t * ranks <= 2 * cpus]
            settings = [("default", {})] + [(f"OMP_NUM_THREADS={t}", {"OMP_NUM_THREADS": str(t)}) for t in handset]
            settings.append(("default, OMP_WAIT_POLICY=passive", {"OMP_WAIT_POLICY": "passive"}))
            results = {name: [] for name, _ in settings}
            default_threads = None
            for pair in range(a.pairs):
                order = settings if pair % 2 == 0 else list(reversed(settings))
                for name, env in order:
                    tps, threads = run(a.build, layout, env, a.steps, work)
                    results[name].append(tps)
                    if name == "default":
                        default_threads = threads
                print(f"  {layout} pair {pair + 1}: " +
                      ", ".join(f"{n} {results[n][-1]:,.0f}" for n, _ in settings), file=sys.stderr)
            med = {name: statistics.median(v) for name, v in results.items()}
            best_name = max((n for n, _ in settings if n.startswith("OMP_NUM")), key=lambda n: med[n])
            rows.append((layout, default_threads, med, best_name))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n| launch | default threads per rank | default tokens/s | best hand-set | its tokens/s | "
          f"default / best | default with OMP_WAIT_POLICY=passive |")
    print("|---|---|---|---|---|---|---|")
    for layout, threads, med, best in rows:
        print(f"| {LABELS[layout]} | {threads} | {med['default']:,.0f} | `{best}` | {med[best]:,.0f} | "
              f"{med['default'] / med[best]:.3f} | {med['default, OMP_WAIT_POLICY=passive']:,.0f} |")


if __name__ == "__main__":
    main()
