"""Data-parallel training across processes (DDP): one process per GPU, started by ``srun`` inside the job.

A hook for the shared training engine, not a second engine. A training script does::

    from terraflux.train import distributed

    with distributed.session() as dist:          # no-op for a single process
        model = dist.wrap(model)                 # DistributedDataParallel when world_size > 1
        for batch_indices in batches:            # the same global batches on every rank
            mine = dist.shard(batch_indices)     # this rank's contiguous part of the global batch
            ...                                  # forward/backward: DDP averages gradients
        if dist.is_main:
            save(...)                            # only rank 0 writes final outputs

With the shared engine (:class:`terraflux.train.Engine`) do not wrap the model: pass ``dist`` and the same
global batches on every rank; the engine gives ``train_step`` this rank's contiguous part of each batch
(:meth:`Distributed.split_batch`, any batch size) and combines the gradients with one all-reduce weighted by
each part's share of the samples (:meth:`Distributed.reduce_step`)::

    engine = Engine(model, optimizer, config, resume_path=..., dist=dist)
    engine.fit(lambda epoch: seeded_loader(data, batch_size=B, seed=s, epoch=epoch), train_step, validate)

Every rank holds the same state after each step; rank 0 alone writes the engine's atomic resume checkpoint,
and on a re-run every rank resumes from it (the ranks check that they resume from the same step: the
checkpoint's folder must be on a filesystem every node sees, as the outputs are).

How the processes are started. Config ``compute.train.tasks`` (0: one process per GPU) makes
``job_resources("train")`` give a training rule resources ``tasks=N`` and ``mpi="srun"`` (and
``tasks_per_gpu=1`` on GPUs): the Slurm plugin then submits ``--ntasks=N`` and runs the job's snakemake
in the batch step without wrapping it in ``srun -n1``. A ``script:`` rule calls :func:`launch` first::

    log = setup_logging(snakemake, log_path=distributed.rank_log(snakemake.log[0]))  # rank 0: the rule's log
    dist = distributed.launch(snakemake)  # batch step: exec `srun -n N python <this script>`; task: returns

so the script runs again as N tasks of one job step, and Slurm sets ``SLURM_PROCID``, ``SLURM_NTASKS``,
``SLURM_LOCALID`` in each. A ``shell:`` rule runs ``{resources.mpi} -n {resources.tasks} python ...``
itself. ``torchrun`` variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``) are honoured too. Rendezvous:
``MASTER_ADDR`` and ``MASTER_PORT``: :func:`launch` sets both to this node (the first of the job) and a
port free on it; otherwise they default to the first node of ``SLURM_JOB_NODELIST`` (else 127.0.0.1)
and a port derived from ``SLURM_JOB_ID``. Backend: NCCL on CUDA, gloo on CPU.

Equivalence: with the global batch split into equal contiguous shards, DDP's averaged gradient equals the
single-process gradient of the whole batch (up to float summation order), so N processes follow the same
trajectory as one (tested with 2 CPU processes and gloo). The engine's samples-weighted sum does the same for
unequal parts, exactly for losses that are means over the batch's samples (for a mean over observed values
only, as masked MSE, the weight is the share of samples, not of observed values: close, not equal). Dropout
draws its masks per rank, so with dropout N processes follow another random trajectory than one.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist

LOG = logging.getLogger(__name__)
PORT_BASE = 29500
LEFT_KEY = "terraflux/left"  # store counter: ranks other than 0 that have left the group
LINGER_S = 1.0  # rank 0 keeps the rendezvous store up this long after the last rank has said it left
LEAVE_TIMEOUT_S = 10.0  # the longest a rank waits for the store's answer when it says it leaves
SETTLE_S = 0.2  # pause (GIL released) after the last collective, before the process group is destroyed
PORT_SPAN = 2000


def _env_int(*names: str, default: int) -> int:
    for name in names:
        value = os.environ.get(name)
        if value not in (None, ""):
            return int(value)
    return default


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

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` wrapped in DistributedDataParallel (unchanged for a single process)."""
        if not self.enabled:
            return model
        device = next(model.parameters()).device
        ids = [device.index] if device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def shard(self, items: Sequence):
        """This rank's contiguous part of a global batch ``items`` (length divisible by world_size).

        Equal shards keep DDP's gradient average equal to the whole-batch mean gradient.
        """
        n = len(items)
        if n % self.world_size:
            raise ValueError(
                f"global batch of {n} items cannot be split evenly over {self.world_size} processes: "
                f"choose a batch size divisible by the number of GPUs (resources tasks)"
            )
        size = n // self.world_size
        return items[self.rank * size : (self.rank + 1) * size]

    def shard_batch(self, batch):
        """This rank's part of a collated batch: tensors split along dim 0, tuples/lists/dicts recursively.

        For the shared engine: ``epoch_batches=lambda e: map(dist.shard_batch, loader(e))`` with the same
        global batches on every rank (a loader seeded by epoch, as ``seeded_loader``).
        """
        if torch.is_tensor(batch):
            return self.shard(batch)
        if isinstance(batch, dict):
            return {key: self.shard_batch(value) for key, value in batch.items()}
        if isinstance(batch, (tuple, list)):
            return type(batch)(self.shard_batch(value) for value in batch)
        return batch

    def bounds(self, n: int) -> tuple[int, int]:
        """[start, stop) of this rank's contiguous part of ``n`` rows: sizes differ by at most one."""
        base, extra = divmod(n, self.world_size)
        start = self.rank * base + min(self.rank, extra)
        return start, start + base + (self.rank < extra)

    def split_batch(self, batch) -> tuple[Any, float]:
        """This rank's part of a global batch and its share of the samples (for :class:`Engine` ``dist=``).

        Every tensor leaf (in dicts, tuples, lists) is cut along dim 0 into contiguous parts of sizes
        differing by at most one (any batch size works); the share is ``n_rank / n`` of the first leaf, so
        that ``sum over ranks of share * gradient`` is the whole-batch gradient of a per-sample mean loss.
        A batch with a leaf of fewer rows than processes is not split: every rank takes all of it, share
        ``1 / world_size``. One process: ``(batch, 1.0)``.
        """
        if not self.enabled:
            return batch, 1.0
        rows = [len(leaf) for leaf in _tensor_leaves(batch)]
        if not rows or min(rows) < self.world_size:
            return batch, 1.0 / self.world_size
        start, stop = self.bounds(rows[0])
        return self._cut(batch), (stop - start) / rows[0]

    def _cut(self, batch):
        if torch.is_tensor(batch):
            start, stop = self.bounds(len(batch))
            return batch[start:stop]
        if isinstance(batch, dict):
            return {key: self._cut(value) for key, value in batch.items()}
        if isinstance(batch, (tuple, list)):
            return type(batch)(self._cut(value) for value in batch)
        return batch

    def reduce_step(self, params: Sequence[torch.Tensor], share: float, values: Sequence[float]) -> list[float]:
        """After this rank's backward of ``share * loss``: every ``param.grad`` becomes the sum over ranks
        (the whole-batch gradient) and each of ``values`` (loss, logged extras: unscaled) the sum over ranks
        of ``share * value``, identical on every rank.

        One flattened all-reduce (gradients, which parameters got one, values). A parameter that got no
        gradient on any rank keeps ``grad = None`` (as in one process: the optimiser skips it).
        """
        if not self.enabled:
            return list(values)
        like = params[0] if params else torch.zeros(0)
        parts = [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params]
        has = torch.tensor([float(p.grad is not None) for p in params], dtype=like.dtype, device=like.device)
        vals = torch.tensor([float(v) * share for v in values], dtype=torch.float64).to(like.dtype).to(like.device)
        flat = torch.cat([*parts, has, vals])
        torch_dist.all_reduce(flat, op=torch_dist.ReduceOp.SUM)
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = flat[offset : offset + n].view_as(p).clone()
            offset += n
        for p, got in zip(params, flat[offset : offset + len(params)].tolist()):
            if not got:
                p.grad = None
        return flat[offset + len(params) :].tolist()

    @contextmanager
    def global_batch_norm(self, model: torch.nn.Module) -> Iterator[None]:
        """Within: every batch-norm layer of ``model`` normalises a training batch with the statistics of the
        whole global batch (all ranks' parts), as one process would, and updates its running statistics with
        them (on CPU too, where ``torch.nn.SyncBatchNorm`` does not run). Eval mode is unchanged. Layers are
        patched per instance and restored on exit; the state dict keeps its keys. One process: no change.
        """
        layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)] if self.enabled else []
        for layer in layers:
            layer.forward = _global_batch_norm.__get__(layer)
        try:
            yield
        finally:
            for layer in layers:
                del layer.forward

    def broadcast_(self, tensors: Sequence[torch.Tensor]) -> None:
        """Overwrite ``tensors`` in place with rank 0's (e.g. a model's parameters and buffers)."""
        if self.enabled:
            for t in tensors:
                torch_dist.broadcast(t.data, src=0)

    def same(self, value: float) -> float:
        """Rank 0's ``value`` on every rank (validation loss: every rank takes the same decisions)."""
        if not self.enabled:
            return value
        out = torch.tensor([float(value)], dtype=torch.float64)
        torch_dist.broadcast(out, src=0)
        return float(out)

    def agree(self, value: int, what: str) -> None:
        """Raise the same error on every rank unless every rank has the same ``value``."""
        if not self.enabled:
            return
        pair = torch.tensor([value, -value], dtype=torch.int64)
        torch_dist.all_reduce(pair, op=torch_dist.ReduceOp.MAX)
        if int(pair[0]) != -int(pair[1]):
            raise RuntimeError(f"the {self.world_size} processes disagree on {what} (from {-int(pair[1])} to {int(pair[0])})")

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """Mean of ``value`` over all processes (e.g. a validation loss), the same on every rank."""
        if not self.enabled:
            return value
        out = value.detach().clone()
        torch_dist.all_reduce(out, op=torch_dist.ReduceOp.SUM)
        return out / self.world_size

    def barrier(self) -> None:
        if self.enabled:
            torch_dist.barrier()


class _SumOverRanks(torch.autograd.Function):
    """Sum of a tensor over all ranks; its gradient is the sum of the ranks' gradients (each rank's loss
    depends on every rank's input through the sum)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.clone()
        torch_dist.all_reduce(out, op=torch_dist.ReduceOp.SUM)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        out = grad.clone()
        torch_dist.all_reduce(out, op=torch_dist.ReduceOp.SUM)
        return out


def _global_batch_norm(layer: torch.nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> torch.Tensor:
    """Batch norm of this rank's part ``x`` [B, C, ...] with the global batch's mean and (biased) variance
    (two autograd-aware all-reduces: sums and count, then squared deviations), as ``F.batch_norm`` computes
    them for the whole batch; running statistics updated alike on every rank."""
    all_reduce = _SumOverRanks.apply
    if not (layer.training or layer.running_mean is None):
        return type(layer).forward(layer, x)
    channels = x.shape[1]
    dims = [0, *range(2, x.dim())]
    shape = [1, channels] + [1] * (x.dim() - 2)
    local = torch.cat([x.sum(dims), x.new_full((1,), x.numel() / channels)])
    total = all_reduce(local)
    count = total[channels]
    mean = total[:channels] / count
    var = all_reduce(((x - mean.view(shape)) ** 2).sum(dims)) / count
    if layer.training and layer.track_running_stats:
        with torch.no_grad():
            layer.num_batches_tracked.add_(1)
            factor = 1.0 / float(layer.num_batches_tracked) if layer.momentum is None else layer.momentum
            layer.running_mean.mul_(1 - factor).add_(mean.detach(), alpha=factor)
            layer.running_var.mul_(1 - factor).add_(var.detach() * count / (count - 1).clamp_min(1), alpha=factor)
    y = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + layer.eps)
    if layer.affine:
        y = y * layer.weight.view(shape) + layer.bias.view(shape)
    return y


def _tensor_leaves(batch) -> list[torch.Tensor]:
    if torch.is_tensor(batch):
        return [batch]
    if isinstance(batch, dict):
        return [leaf for value in batch.values() for leaf in _tensor_leaves(value)]
    if isinstance(batch, (tuple, list)):
        return [leaf for value in batch for leaf in _tensor_leaves(value)]
    return []


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
    from datetime import timedelta

    timeout = timedelta(seconds=timeout_s)
    # The rendezvous store is served by rank 0's process. Rank 0 leaves last (after every other rank has
    # torn its group down and said so in the store): a rank still tearing down when the store's server
    # exits could hang (seen with 2 gloo tasks under srun).
    store = torch_dist.TCPStore(_master_addr(), _master_port(), dist.world_size, dist.is_main, timeout)
    torch_dist.init_process_group(backend=backend, store=store, rank=dist.rank, world_size=dist.world_size, timeout=timeout)
    finished = False
    try:
        yield dist
        torch_dist.barrier()  # no rank leaves while another (rank 0 writing outputs) still uses the group
        finished = True
        # gloo's worker thread frees each finished collective after signalling it, and needs the GIL for
        # that; were the group destroyed meanwhile (it joins that thread while holding the GIL, e.g. when a
        # DDP model is freed) the process would deadlock (seen in about 1 run in 15). Let it finish first.
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
                # (a rank waiting on the store with the full timeout hung a job step for minutes).
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


def launch(snakemake=None, *, tasks: int | None = None, argv: Sequence[str] | None = None) -> Distributed:
    """Become one of ``tasks`` data-parallel processes (default: the rule's resource ``tasks``).

    Inside a Slurm job but not yet in a multi-task job step (the batch step of a rule with
    ``mpi="srun"``), this process is *replaced* (exec) by ``srun --ntasks=N python <argv>``: the script
    starts again as N tasks and srun's exit status becomes the job's. In a task, under torchrun, or with
    N <= 1 it returns this process's :class:`Distributed`. Outside Slurm with N > 1 it warns and stays
    one process (same result within the DDP tolerance: see the module docstring).
    """
    tasks = _requested_tasks(snakemake) if tasks is None else int(tasks)
    here = from_environment()
    if tasks <= 1 or here.enabled:
        return here
    if "SLURM_JOB_ID" not in os.environ:
        LOG.warning("%d processes asked for (resource tasks) but not inside a Slurm job: training in one process", tasks)
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
