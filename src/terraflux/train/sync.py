"""Gradient synchronisation of data-parallel processes (:class:`terraflux.train.launch.Distributed`).

The shared engine (:class:`terraflux.train.Engine` with ``dist=``) uses these functions; a training script
does not call them. Every rank builds the same global batches; per step:

1. :func:`split_batch`: this rank's contiguous part of the global batch and its share ``n_rank / n`` of the
   samples (parts differ in size by at most one row, so any batch size works);
2. backward of ``share * loss`` on the part, then :func:`reduce_gradients`: one all-reduce makes every rank's
   gradient the sum over ranks, ``sum_r share_r * grad L_r``;
3. the same optimiser step on every rank, so every rank holds the same weights after each step.

While training, batch-norm layers normalise each part with the whole global batch's statistics
(:func:`global_batch_norm`, around the forward pass of a batch that was split), as one process would;
:func:`broadcast_from_rank0`, :func:`rank0_value` and :func:`agree` keep the ranks' state and decisions
identical.

Equivalence with one process. For a loss that is a mean over the batch's samples, ``sum_r share_r * grad
L_r`` is the whole-batch gradient in exact arithmetic (the mean over n samples is the share-weighted sum of
the means over the parts); in floats the sums are taken in another order. With 2 ranks the all-reduce adds
two numbers per element, one commutative float addition, so the reduced gradient is bitwise the sum of the
two parts' gradients computed in one process. Losses that use statistics of the batch they are given (the
IDE loss's class weights and LFQ entropy, a masked mean over observed values only) are the parts' statistics
here: close to one process, not equal. Dropout draws its masks per rank. This is the synchronous data
parallelism of Goyal et al. (2017), "Accurate, large minibatch SGD" (arXiv:1706.02677), with the batch-norm
statistics of ``torch.nn.SyncBatchNorm`` (which does not run on CPU).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from terraflux.train.launch import Distributed

import torch
import torch.distributed as torch_dist


def split_batch(dist: Distributed, batch) -> tuple[Any, float]:
    """This rank's part of a global batch and its share of the samples.

    Every tensor leaf (in dicts, tuples, lists) is cut along dim 0 into contiguous parts of sizes
    differing by at most one; the share is ``n_rank / n`` of the first leaf, so that ``sum over ranks of
    share * gradient`` is the whole-batch gradient of a per-sample mean loss. A batch with a leaf of fewer
    rows than processes is not split: every rank takes all of it (the ``batch`` object itself), share
    ``1 / world_size``; its batch-norm statistics are then the rank's own, which are the whole batch's.
    One process: ``(batch, 1.0)``.
    """
    if not dist.enabled:
        return batch, 1.0
    rows = [len(leaf) for leaf in _tensor_leaves(batch)]
    if not rows or min(rows) < dist.world_size:
        return batch, 1.0 / dist.world_size
    start, stop = _bounds(dist, rows[0])
    return _cut(dist, batch), (stop - start) / rows[0]


def _bounds(dist: Distributed, n: int) -> tuple[int, int]:
    """[start, stop) of this rank's contiguous part of ``n`` rows: sizes differ by at most one."""
    base, extra = divmod(n, dist.world_size)
    start = dist.rank * base + min(dist.rank, extra)
    return start, start + base + (dist.rank < extra)


def _cut(dist: Distributed, batch):
    if torch.is_tensor(batch):
        start, stop = _bounds(dist, len(batch))
        return batch[start:stop]
    if isinstance(batch, dict):
        return {key: _cut(dist, value) for key, value in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(_cut(dist, value) for value in batch)
    return batch


def _tensor_leaves(batch) -> list[torch.Tensor]:
    if torch.is_tensor(batch):
        return [batch]
    if isinstance(batch, dict):
        return [leaf for value in batch.values() for leaf in _tensor_leaves(value)]
    if isinstance(batch, (tuple, list)):
        return [leaf for value in batch for leaf in _tensor_leaves(value)]
    return []


def reduce_gradients(
    dist: Distributed, params: Sequence[torch.Tensor], share: float, values: Sequence[float]
) -> list[float]:
    """After this rank's backward of ``share * loss``: every ``param.grad`` becomes the sum over ranks
    (the whole-batch gradient) and each of ``values`` (loss, logged extras: unscaled) the sum over ranks
    of ``share * value``, identical on every rank.

    One flattened all-reduce (gradients, which parameters got one, values). A parameter that got no
    gradient on any rank keeps ``grad = None`` (as in one process: the optimiser skips it).
    """
    if not dist.enabled:
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
    for p, got in zip(params, flat[offset : offset + len(params)].tolist(), strict=True):
        if not got:
            p.grad = None
    return flat[offset + len(params) :].tolist()


@contextmanager
def global_batch_norm(dist: Distributed, model: torch.nn.Module) -> Iterator[None]:
    """Within: every batch-norm layer of ``model`` normalises a training batch with the statistics of the
    whole global batch (all ranks' parts), as one process would, and updates its running statistics with
    them. Eval mode is unchanged. Layers are patched per instance and restored on exit; the state dict keeps
    its keys. One process: no change.
    """
    batch_norms = torch.nn.modules.batchnorm._BatchNorm
    layers = [m for m in model.modules() if isinstance(m, batch_norms)] if dist.enabled else []
    for layer in layers:
        layer.forward = _global_batch_norm.__get__(layer)
    try:
        yield
    finally:
        for layer in layers:
            del layer.forward


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
    them for the whole batch; running statistics updated alike on every rank (with the unbiased variance)."""
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
            unbiased = var.detach() * count / (count - 1).clamp_min(1)
            layer.running_var.mul_(1 - factor).add_(unbiased, alpha=factor)
    y = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + layer.eps)
    if layer.affine:
        y = y * layer.weight.view(shape) + layer.bias.view(shape)
    return y


def broadcast_from_rank0(dist: Distributed, tensors: Sequence[torch.Tensor]) -> None:
    """Overwrite ``tensors`` in place with rank 0's (e.g. a model's parameters and buffers)."""
    if dist.enabled:
        for t in tensors:
            torch_dist.broadcast(t.data, src=0)


def rank0_value(dist: Distributed, value: float) -> float:
    """Rank 0's ``value`` on every rank (validation loss: every rank takes the same decisions)."""
    if not dist.enabled:
        return value
    out = torch.tensor([float(value)], dtype=torch.float64)
    torch_dist.broadcast(out, src=0)
    return float(out)


def agree(dist: Distributed, value: int, what: str) -> None:
    """Raise the same error on every rank unless every rank has the same ``value``."""
    if not dist.enabled:
        return
    pair = torch.tensor([value, -value], dtype=torch.int64)
    torch_dist.all_reduce(pair, op=torch_dist.ReduceOp.MAX)
    if int(pair[0]) != -int(pair[1]):
        raise RuntimeError(
            f"the {dist.world_size} processes disagree on {what} (from {-int(pair[1])} to {int(pair[0])})"
        )
