"""A dask cluster for a preparation job, sized from the rule's threads and memory.

A rule that uses it declares ``code=library("prepare", "dask_cluster")`` (a top-level module, so that editing
it reruns only the rules that use it). Inside the job (``threads`` and ``resources.mem_mb`` of the rule)::

    from terraflux.dask_cluster import dask_client

    with dask_client(snakemake.threads, snakemake.resources.mem_mb) as client:
        dataset.to_zarr(...)          # dask computations run on the job's own workers

- ``mode="local"`` (default): a ``distributed.LocalCluster`` on this node with :func:`sizing`:
  worker processes (decoding NetCDF/GRIB holds the GIL, so processes rather than threads), the job's
  memory split between them, no dashboard. Nothing outlives the ``with`` block.
- ``mode="slurm"``: very large preparation jobs across several nodes with dask-jobqueue's
  ``SLURMRunner``. The rule asks for N tasks and lets srun start them (resources ``tasks=N``,
  ``mpi="srun"``, and a ``shell:`` that runs ``{resources.mpi} -n {resources.tasks} python ...``). In each
  of the N processes ``dask_client`` starts the runner: task 0 becomes the scheduler, task 1 runs the
  body of the ``with`` block as the client, tasks 2..N-1 become workers (so N >= 3); they meet through a
  scheduler file in the job's working directory; each worker uses ``threads`` threads and the task's
  share of ``mem_mb`` (``--cpus-per-task`` and ``--mem-per-cpu`` of the job). Only the client task runs the body; the scheduler and
  worker tasks serve until the client leaves the ``with`` block and then end (their body never runs).

Memory: each worker's limit is its share of ``mem_mb`` less a fixed reserve for the parent process, so
dask spills to disk and pauses before Slurm's cgroup kills the job.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

RESERVE_MB = 500  # parent process (the script itself, the zarr writer) outside the workers


@dataclass(frozen=True)
class Sizing:
    """Workers of a local dask cluster: processes, threads each, memory limit each (MB)."""

    workers: int
    threads_per_worker: int
    memory_per_worker_mb: int


def sizing(threads: int, mem_mb: int, *, max_workers: int | None = None) -> Sizing:
    """Worker processes and memory for a job with ``threads`` CPU threads and ``mem_mb`` MB.

    One single-threaded worker per thread (capped by ``max_workers`` and the CPUs this process may use);
    memory ``(mem_mb - RESERVE_MB) / workers`` each, at least 256 MB.
    """
    if threads < 1 or mem_mb < 1:
        raise ValueError(f"a dask cluster needs threads >= 1 and mem_mb >= 1 (got threads={threads}, mem_mb={mem_mb})")
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    workers = max(1, min(int(threads), available, max_workers or int(threads)))
    threads_per_worker = max(1, int(threads) // workers)
    memory = max(256, (int(mem_mb) - RESERVE_MB) // workers)
    return Sizing(workers, threads_per_worker, memory)


@contextmanager
def dask_client(threads: int, mem_mb: int, *, mode: str = "local", scheduler_file: str | Path = "dask-scheduler.json", max_workers: int | None = None) -> Iterator:
    """A ``distributed.Client`` on a cluster sized for this job (see the module docstring for modes)."""
    from distributed import Client

    if mode == "local":
        from distributed import LocalCluster

        size = sizing(threads, mem_mb, max_workers=max_workers)
        with LocalCluster(
            n_workers=size.workers,
            threads_per_worker=size.threads_per_worker,
            memory_limit=f"{size.memory_per_worker_mb}MB",
            processes=True,
            dashboard_address=None,
        ) as cluster, Client(cluster) as client:
            yield client
    elif mode == "slurm":
        from dask_jobqueue.slurm import SLURMRunner

        worker = {"nthreads": max(1, int(threads)), "memory_limit": f"{max(256, int(mem_mb) - RESERVE_MB)}MB"}
        with SLURMRunner(scheduler_file=str(scheduler_file), worker_options=worker) as runner, Client(runner) as client:
            client.wait_for_workers(runner.n_workers)
            yield client
    else:
        raise ValueError(f"dask cluster mode must be 'local' or 'slurm', not {mode!r}")
