"""Benchmark: DAG build and dry-run time of the real-data Europe preset (1985-2024, thousands of jobs).

Targets (docs/performance.md): dry run (`snakemake --profile slurm -n` with config/europe.yaml, nothing built yet)
under 15 s; no-op rerun when every output is up to date under 10 s. Outputs are made up to date in a
scratch directory with placeholders (empty files and folders for every output `--summary` lists, never
real data) and `snakemake --touch --forceall` (which records every job's metadata, as a run would). Prints jobs, wall
times, each ratio against its target (< 1 passes) and the peak RSS of the snakemake processes, and
their CPU time and the load average (on a loaded machine the wall time overstates what a user sees). It
runs from a snapshot of the checkout, library included (PYTHONPATH: the config schema and the rules'
helpers come from the snapshot, not from the installed checkout that others may be editing meanwhile).

Slurm's plugin runs ``scontrol show config`` when it is imported (for a help text). Where the Slurm
client is installed but no controller answers (a test machine after the Slurm tests), that call waits
about 9 s before failing, at every snakemake start; on a cluster it answers at once. The time of that
call is measured and printed beside the results, so that it can be told apart.

    python bench/bench_dag.py [--configfile config/europe.yaml] [--keep DIR]
"""

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

import terraflux  # noqa: F401  (native libraries in a safe order)
from terraflux.workflow.placeholders import write_placeholders

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
DRY_RUN_TARGET_S = 15.0
NOOP_TARGET_S = 10.0


def snakemake(repo: Path, workdir: Path, config: Path, *args: str) -> tuple[float, float, float, str]:
    """Run snakemake from the root of ``repo``; returns (wall s, CPU s, peak RSS MB of the children, output)."""
    cmd = [
        str(SNAKEMAKE),
        "--profile",
        "slurm",
        "--nolock",
        "--directory",
        str(workdir),
        "--configfile",
        str(config),
        *args,
    ]
    env = dict(os.environ, PYTHONPATH=str(repo / "src"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(["timeout", "-s", "KILL", "1800", *cmd], cwd=repo, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if done.returncode != 0:
        sys.exit(f"snakemake {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return seconds, cpu, after.ru_maxrss / 1024, done.stdout + done.stderr


def scontrol_wait() -> float:
    """Seconds ``scontrol show config`` takes here (the Slurm plugin runs it at every start; 0: no scontrol)."""
    if shutil.which("scontrol") is None:
        return 0.0
    start = time.perf_counter()
    subprocess.run(["timeout", "-s", "KILL", "30", "scontrol", "show", "config"], capture_output=True)
    return time.perf_counter() - start


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f}/{five:.1f}/{fifteen:.1f} on {os.cpu_count() or 1} CPUs"


def total_jobs(output: str) -> int:
    match = re.search(r"^total\s+(\d+)", output, re.MULTILINE)
    return int(match.group(1)) if match else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", type=Path, default=REPO / "config" / "europe.yaml")
    ap.add_argument("--keep", type=Path, help="scratch directory to use and keep (default: a temporary one, removed)")
    args = ap.parse_args()
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="bench-dag-"))
    workdir = scratch / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    # a snapshot of the checkout, so that edits made meanwhile (a shared checkout) do not change the plan
    repo = scratch / "terraflux"
    shutil.rmtree(repo, ignore_errors=True)
    shutil.copytree(
        REPO,
        repo,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "resources", "results", "logs", "benchmarks", ".snakemake", "__pycache__", "*.egg-info"
        ),
    )
    config = args.configfile.resolve()
    try:
        print(f"scontrol show config: {scontrol_wait():.1f} s (included in every wall time below); {load()}")
        dry, cpu, peak, out = snakemake(repo, workdir, config, "-n", "--quiet", "rules")
        jobs = total_jobs(out)
        print(
            f"dry run, nothing built: {jobs} jobs in {dry:.1f} s wall ({cpu:.1f} s CPU), "
            f"ratio {dry / DRY_RUN_TARGET_S:.2f} of the {DRY_RUN_TARGET_S:.0f} s target, "
            f"peak RSS {peak:.0f} MB; {load()}"
        )
        start = time.perf_counter()
        _, _, _, summary = snakemake(repo, workdir, config, "--summary")
        write_placeholders(summary, workdir)
        snakemake(repo, workdir, config, "--touch", "--forceall", "--cores", "1")
        touch = time.perf_counter() - start
        noop, cpu, peak, out = snakemake(repo, workdir, config, "-n")
        if "Nothing to be done" not in out:
            sys.exit(f"after --touch the workflow still has work to do:\n{out[-3000:]}")
        print(
            f"no-op rerun, all up to date ({touch:.0f} s to set up): {noop:.1f} s wall ({cpu:.1f} s CPU), "
            f"ratio {noop / NOOP_TARGET_S:.2f} of the {NOOP_TARGET_S:.0f} s target, peak RSS {peak:.0f} MB; {load()}"
        )
    finally:
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
