"""Benchmark: generating the demo synthetic world (the whole offline raw layer and its truth).

Target (docs/performance.md): `snakemake synthesize_all` on the default config (21 x 31 cells at 0.1 deg, 2016-2019,
10 ERA5-Land variables hourly, CERRA, land cover, towers, VHP, truth) under 60 s on 2 cores. Prints the
wall time and its ratio against the target (< 1 passes), the CPU seconds of all jobs (user + system: on a
machine shared with other work this, divided by the cores, is the wall time the job would take alone),
the peak RSS of the largest job, and the slowest rules from Snakemake's benchmark files.

    python bench/bench_synthetic.py [--cores 2] [--configfile FILE] [--keep DIR]
"""

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import terraflux  # noqa: F401  (native libraries in a safe order)

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
TARGET_S = 60.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--configfile", type=Path, default=REPO / "config" / "config.yaml")
    ap.add_argument("--keep", type=Path, help="working directory to use and keep (default: a temporary one)")
    args = ap.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="bench-synthetic-"))
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        str(SNAKEMAKE),
        "synthesize_all",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        str(args.cores),
        "--quiet",
        "all",
        "--configfile",
        str(args.configfile.resolve()),
    ]
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            sys.exit(f"snakemake failed ({done.returncode}):\n{done.stderr[-4000:]}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        load = os.getloadavg()[0]
        print(
            f"demo synthetic world: {wall:.1f} s wall on {args.cores} cores, ratio {wall / TARGET_S:.2f} of the "
            f"{TARGET_S:.0f} s target; {cpu:.1f} CPU s in all jobs (alone: about {cpu / args.cores:.1f} s, ratio "
            f"{cpu / args.cores / TARGET_S:.2f}); peak RSS of one job {after.ru_maxrss / 1024:.0f} MB; "
            f"load average {load:.1f}"
        )
        rows = []
        for tsv in sorted(workdir.glob("benchmarks/*/synthesize_*")):
            files = [tsv] if tsv.is_file() else sorted(tsv.glob("*.tsv"))
            for f in files:
                bench = pd.read_csv(f, sep="\t")
                rows.append(
                    {
                        "job": f.relative_to(workdir / "benchmarks").as_posix(),
                        "s": bench["s"].iloc[0],
                        "max_rss_MB": bench["max_rss"].iloc[0],
                    }
                )
        table = pd.DataFrame(rows).sort_values("s", ascending=False)
        print(table.head(8).to_string(index=False))
        size = sum(p.stat().st_size for p in workdir.glob("resources/**/*") if p.is_file())
        print(f"written: {size / 1e6:.0f} MB")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
