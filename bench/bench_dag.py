"""Benchmark: DAG build and dry-run time of the real-data Europe preset (1981-2024, thousands of jobs).

Targets (issue 7): dry run (`snakemake --profile slurm -n` with config/europe.yaml, nothing built yet)
under 15 s; no-op rerun when every output is up to date under 10 s. Outputs are made up to date with
`snakemake --touch` (empty files and folders, never real data) in a scratch directory. Prints jobs, wall
times, each ratio against its target (< 1 passes) and the peak RSS of the snakemake process.

    python bench/bench_dag.py [--configfile config/europe.yaml] [--keep DIR]
"""

import terraflux  # noqa: F401  (native libraries in a safe order)

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
DRY_RUN_TARGET_S = 15.0
NOOP_TARGET_S = 10.0


def snakemake(workdir: Path, config: Path, *args: str) -> tuple[float, float, str]:
    """Run snakemake from the repository root; returns (wall seconds, peak RSS MB of the child, output)."""
    cmd = [str(SNAKEMAKE), "--profile", "slurm", "--nolock", "--directory", str(workdir), "--configfile", str(config), *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(["timeout", "-s", "KILL", "900", *cmd], cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    peak = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024
    if done.returncode != 0:
        sys.exit(f"snakemake {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return seconds, peak, done.stdout + done.stderr


def total_jobs(output: str) -> int:
    match = re.search(r"^total\s+(\d+)", output, re.MULTILINE)
    return int(match.group(1)) if match else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", type=Path, default=REPO / "config" / "europe.yaml")
    ap.add_argument("--keep", type=Path, help="scratch directory to use and keep (default: a temporary one, removed)")
    args = ap.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="bench-dag-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        dry, dry_peak, out = snakemake(workdir, args.configfile.resolve(), "-n", "--quiet", "rules")
        jobs = total_jobs(out)
        print(f"dry run, nothing built: {jobs} jobs in {dry:.1f} s, ratio {dry / DRY_RUN_TARGET_S:.2f} of the {DRY_RUN_TARGET_S:.0f} s target, peak RSS {dry_peak:.0f} MB")
        touch, _, _ = snakemake(workdir, args.configfile.resolve(), "--touch", "--cores", "1")
        noop, noop_peak, out = snakemake(workdir, args.configfile.resolve(), "-n")
        if "Nothing to be done" not in out:
            sys.exit(f"after --touch the workflow still has work to do:\n{out[-3000:]}")
        print(f"no-op rerun, all up to date ({touch:.0f} s to touch): {noop:.1f} s, ratio {noop / NOOP_TARGET_S:.2f} of the {NOOP_TARGET_S:.0f} s target, peak RSS {noop_peak:.0f} MB")
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
