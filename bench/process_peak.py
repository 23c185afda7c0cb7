"""Run a command in its own process and measure it: wall time, CPU time of the process tree, peak RSS."""

from __future__ import annotations

import os
import resource
import subprocess
import time

import psutil


def measure_process(args: list[str], interval: float = 0.05) -> dict:
    """Run ``args``; wall seconds, CPU seconds (the process and every child it waited for), the peak of the
    summed RSS of its process tree (sampled every ``interval`` s) in MB, and the mean load average."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(args)
    root = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(interval)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])} ... failed with exit code {proc.returncode}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak / 2**20, "load": (load + os.getloadavg()[0]) / 2}
