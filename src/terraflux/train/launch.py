"""Starting data-parallel training processes: one process per GPU, started by ``srun`` inside the job.

A training rule's script starts with::

    from terraflux.train import launch

    log = setup_logging(snakemake, log_path=launch.rank_log(snakemake.log[0]))  # rank 0: the rule's log
    launch.start(snakemake)  # batch step: exec `srun -n N python <this script>`; in a task: returns
    with launch.session() as dist:  # one process: nothing to join
        ...  # Engine(..., dist=dist): each rank trains on its part of every batch (terraflux.train.sync)
    if dist.is_main:
        ...  # only rank 0 writes the outputs

How the processes are started. Config ``compute.train.tasks`` (0: one process per GPU) makes
``job_resources("train")`` give a training rule resources ``tasks=N`` and ``mpi="srun"`` (and
``tasks_per_gpu=1`` on GPUs): the Slurm executor plugin then submits ``--ntasks=N`` and runs the job's
snakemake in the batch step without wrapping it in ``srun -n1``. :func:`start` in the batch step replaces the
process by ``srun --ntasks=N python <the script>``, so the script runs again as N tasks of one job step, and
Slurm sets ``SLURM_PROCID``, ``SLURM_NTASKS``, ``SLURM_LOCALID`` in each. A ``shell:`` rule runs
``{resources.mpi} -n {resources.tasks} python ...`` itself. ``torchrun`` variables (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``) are honoured too.

Rendezvous: ``MASTER_ADDR`` and ``MASTER_PORT``; :func:`start` sets both to this node (the first of the job)
and a port free on it; otherwise they default to the first node of ``SLURM_JOB_NODELIST`` (else 127.0.0.1)
and a port derived from ``SLURM_JOB_ID``. Backend: NCCL on CUDA, gloo on CPU (PyTorch,
https://pytorch.org/docs/stable/distributed.html).
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as torch_dist

LOG = logging.getLogger(__name__)
PORT_BASE = 29500  # rendezvous ports: PORT_BASE + SLURM_JOB_ID % PORT_SPAN
PORT_SPAN = 2000
LEFT_KEY = "terraflux/left"  # store counter: ranks other than 0 that have left the group
LINGER_S = 1.0  # rank 0 keeps the rendezvous store up this long after the last rank has said it left
LEAVE_TIMEOUT_S = 10.0  # the longest a rank waits for the store's answer when it says it leaves
SETTLE_S = 0.2  # pause (GIL released) after the last collective, before the process group is destroyed


@dataclass(frozen=True)
class Distributed:
    """This process's place among ``world_size`` data-parallel processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """True on rank 0, the process that writes checkpoints, predictions and metrics."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def device(self) -> torch.device:
        """CUDA device of this process's local rank when CUDA is present, else the CPU."""
        if torch.cuda.is_available():
            return torch.device("cuda", self.local_rank % torch.cuda.device_count())
        return torch.device("cpu")


def _env_int(*names: str, default: int) -> int:
    for name in names:
        value = os.environ.get(name)
        if value not in (None, ""):
            return int(value)
    return default


def from_environment() -> Distributed:
    """Rank, world size and local rank from srun (``SLURM_*``) or torchrun variables; one process if none.

    ``SLURM_PROCID`` is only trusted together with ``SLURM_STEP_ID`` (set by srun for a job step): a batch
    script on its own also has ``SLURM_PROCID=0`` but is one process, whatever ``SLURM_NTASKS`` says.
    """
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return Distributed(
            rank=_env_int("RANK", default=0),
            world_size=_env_int("WORLD_SIZE", default=1),
            local_rank=_env_int("LOCAL_RANK", default=0),
        )
    if "SLURM_PROCID" in os.environ and "SLURM_STEP_ID" in os.environ:
        return Distributed(
            rank=_env_int("SLURM_PROCID", default=0),
            world_size=_env_int("SLURM_STEP_NUM_TASKS", "SLURM_NTASKS", default=1),
            local_rank=_env_int("SLURM_LOCALID", default=0),
        )
    return Distributed()


def _master_addr() -> str:
    if os.environ.get("MASTER_ADDR"):
        return os.environ["MASTER_ADDR"]
    nodes = os.environ.get("SLURM_STEP_NODELIST") or os.environ.get("SLURM_JOB_NODELIST")
    if nodes:
        try:
            names = subprocess.run(
                ["scontrol", "show", "hostnames", nodes], capture_output=True, text=True, timeout=30, check=True
            ).stdout.split()
            if names:
                return "127.0.0.1" if names[0] == "localhost" else names[0]
        except (OSError, subprocess.SubprocessError):
            pass
    return "127.0.0.1"


def _master_port() -> int:
    if os.environ.get("MASTER_PORT"):
        return int(os.environ["MASTER_PORT"])
    return PORT_BASE + _env_int("SLURM_JOB_ID", default=0) % PORT_SPAN


@contextmanager
def session(backend: str | None = None, timeout_s: float = 600) -> Iterator[Distributed]:
    """Join the process group (when started as several processes) and leave it at the end.

    Yields the :class:`Distributed` of this process; with one process nothing is initialised.
    """
    dist = from_environment()
    if not dist.enabled:
        yield dist
        return
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        torch.cuda.set_device(dist.device())
    timeout = timedelta(seconds=timeout_s)
    # The rendezvous store is served by rank 0's process. Rank 0 leaves last (after every other rank has
    # torn its group down and said so in the store): a rank still tearing down when the store's server
    # exits could hang.
    store = torch_dist.TCPStore(_master_addr(), _master_port(), dist.world_size, dist.is_main, timeout)
    torch_dist.init_process_group(
        backend=backend, store=store, rank=dist.rank, world_size=dist.world_size, timeout=timeout
    )
    finished = False
    try:
        yield dist
        torch_dist.barrier()  # no rank leaves while another (rank 0 writing outputs) still uses the group
        finished = True
        # gloo's worker thread frees each finished collective after signalling it, and needs the GIL for
        # that; were the group destroyed meanwhile (it joins that thread while holding the GIL) the process
        # would deadlock. Let it finish first.
        time.sleep(SETTLE_S)
    finally:
        torch_dist.destroy_process_group()
        if finished:  # after an error: leave at once (srun --kill-on-bad-exit ends the other ranks)
            if dist.is_main:
                deadline = time.monotonic() + timeout_s
                while store.add(LEFT_KEY, 0) < dist.world_size - 1 and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(LINGER_S)  # the server's answer to the last rank's add is still on its way
            else:
                # The answer can still be lost if rank 0 exits first: wait for it briefly, never forever
                # (a rank waiting on the store with the full timeout would hold the job step).
                store.set_timeout(timedelta(seconds=LEAVE_TIMEOUT_S))
                try:
                    store.add(LEFT_KEY, 1)
                except RuntimeError as error:  # DistStoreError derives from it
                    LOG.debug("rank %d: rank 0 left before answering (%s)", dist.rank, error)


def _requested_tasks(snakemake) -> int:
    resources = getattr(snakemake, "resources", None)
    value = resources.get("tasks", 1) if resources is not None else 1
    return int(value or 1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


def srun_command(tasks: int, argv: Sequence[str] | None = None) -> list[str]:
    """The command that starts this script again as ``tasks`` processes of one job step."""
    argv = list(sys.argv if argv is None else argv)
    # --kill-on-bad-exit: one failing rank ends the step (the others would wait in a collective forever)
    return ["srun", f"--ntasks={tasks}", "--kill-on-bad-exit=1", sys.executable, *argv]


def start(snakemake=None, *, tasks: int | None = None, argv: Sequence[str] | None = None) -> Distributed:
    """Become one of ``tasks`` data-parallel processes (default: the rule's resource ``tasks``).

    Inside a Slurm job but not yet in a multi-task job step (the batch step of a rule with
    ``mpi="srun"``), this process is *replaced* (exec) by ``srun --ntasks=N python <argv>``: the script
    starts again as N tasks and srun's exit status becomes the job's. In a task, under torchrun, or with
    N <= 1 it returns this process's :class:`Distributed`. Outside Slurm with N > 1 it warns and stays
    one process (a run of one process equals one of N up to float rounding: :mod:`terraflux.train.sync`).
    """
    tasks = _requested_tasks(snakemake) if tasks is None else int(tasks)
    here = from_environment()
    if tasks <= 1 or here.enabled:
        return here
    if "SLURM_JOB_ID" not in os.environ:
        LOG.warning(
            "%d processes asked for (resource tasks) but not inside a Slurm job: training in one process", tasks
        )
        return here
    one_node = os.environ.get("SLURM_JOB_NUM_NODES", "1") == "1"
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1" if one_node else socket.gethostname())
    os.environ.setdefault("MASTER_PORT", str(_free_port()))
    command = srun_command(tasks, argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvp(command[0], command)
    raise AssertionError("unreachable")  # pragma: no cover


def rank_log(path: str | os.PathLike) -> str:
    """The log file of this rank: ``path`` itself on rank 0, ``<path>.rank<N>`` on the others."""
    dist = from_environment()
    return str(path) if dist.is_main else f"{path}.rank{dist.rank}"
