"""Shared parts of the multiple-instance (MIL) baselines, with extremes as weak labels.

Adapted to drivers as in the IDE paper: a bag is one pixel of a window; its instances are the (variable,
week) voxels. A bag is positive where the pixel is an extreme at the target week (valid pixels), negative
where no (loose) extreme occurs in the window (the "normal" mask of :meth:`WindowData.window`); the rest
takes no part in the loss. A per-variable instance network (independent 3-D convolutions per variable,
sharing no weights) gives every instance features and a score in (0, 1); a driver is an instance scoring
above 0.5 (then the majority vote over windows, as for the model).
"""

from __future__ import annotations

from typing import ClassVar

from terraflux.ide.baselines.base import DRIVER_SCORE, NetworkBaseline, bag_logit
from terraflux.ide.model import grouped_conv

import torch
import torch.nn.functional as F
from torch import nn

TOP_K_SHARE = 1 / 8  # top-k MIL: k = ceil(share x instances of a bag), about RTFM's and MGFN's 3 of 32 snippets


class InstanceNetwork(nn.Module):
    """Per-variable features [N, V, F, T, H, W] and instance scores [N, V, T, H, W] in (0, 1); the bag's
    probability is the maximum instance score (``top_k`` False) or the mean of the top-k scores (True)."""

    def __init__(self, variables: int, channels: int, hidden: int, top_k: bool):
        super().__init__()
        self.variables, self.hidden, self.top_k = variables, hidden, top_k
        self.features = nn.Sequential(
            grouped_conv(variables, channels, hidden),
            nn.ReLU(),
            grouped_conv(variables, hidden, hidden),
            nn.ReLU(),
        )
        self.score = grouped_conv(variables, hidden, 1, kernel=1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        n, v, c, t, h, w = x.shape
        feats = self.features(x.reshape(n, v * c, t, h, w))
        scores = torch.sigmoid(self.score(feats))  # [N, V, T, H, W]
        instances = scores.flatten(1, 2)  # [N, V*T, H, W]
        if self.top_k:
            bag = instances.topk(top_k(instances.shape[1]), dim=1).values.mean(dim=1)
        else:
            bag = instances.amax(dim=1)
        return {
            "features": feats.reshape(n, v, self.hidden, t, h, w),
            "scores": scores,
            "logits": bag_logit(bag),
            "drivers": scores > DRIVER_SCORE,
        }


def top_k(instances: int) -> int:
    """k of the top-k bag score for a bag of ``instances`` instances."""
    return max(1, -(-instances // round(1 / TOP_K_SHARE)))


def bags(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks [N, H, W] of the positive bags (extreme at the target week, valid) and negative bags (normal)."""
    return batch["target"] & batch["valid"], batch["normal"]


def instances_of(tensor: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The instances of the bags in ``mask`` [N, H, W]: [N, V, (F,) T, H, W] -> [bags, V, (F,) T]."""
    dims = tensor.dim()
    return tensor.permute(0, dims - 2, dims - 1, *range(1, dims - 2))[mask]


def bag_bce(out: dict[str, torch.Tensor], pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Mean BCE of the bag scores: 1 for positive bags, 0 for negative ones (each class weighted equally)."""
    logits = out["logits"]
    loss = logits.sum() * 0.0
    for mask, label in ((pos, 1.0), (neg, 0.0)):
        if mask.any():
            loss = loss + F.binary_cross_entropy_with_logits(logits[mask], torch.full_like(logits[mask], label))
    return loss


def sparse_and_smooth(scores: torch.Tensor, sparsity: float, smoothness: float) -> torch.Tensor:
    """Sultani et al.'s regularisers of the instance scores [bags, V, T] of positive bags: ``sparsity`` x
    sum of scores + ``smoothness`` x sum of squared week-to-week changes, averaged over bags."""
    if len(scores) == 0:
        return scores.sum() * 0.0
    return (
        sparsity * scores.sum(dim=(1, 2)).mean()
        + smoothness * (scores[..., 1:] - scores[..., :-1]).pow(2).sum(dim=(1, 2)).mean()
    )


def paired(a: torch.Tensor, b: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """min(len(a), len(b)) random pairs of rows of ``a`` and ``b`` (drawn with ``generator``)."""
    k = min(len(a), len(b))
    ia = torch.randperm(len(a), generator=generator)[:k].to(a.device)
    ib = torch.randperm(len(b), generator=generator)[:k].to(b.device)
    return a[ia], b[ib]


class MagnitudeNetwork(InstanceNetwork):
    """An :class:`InstanceNetwork` whose bag score is the mean score of its top-k instances by feature
    magnitude; also returns "selected" [N, H, W, F]: the mean features of those instances."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = super().forward(x)
        n, v, f, t, h, w = out["features"].shape
        feats = out["features"].permute(0, 4, 5, 1, 3, 2).reshape(n, h, w, v * t, f)
        scores = out["scores"].permute(0, 3, 4, 1, 2).reshape(n, h, w, v * t)
        index = feats.norm(dim=-1).topk(top_k(v * t), dim=-1).indices  # [N, H, W, k]
        out["logits"] = bag_logit(scores.gather(-1, index).mean(dim=-1))
        out["selected"] = feats.gather(-2, index[..., None].expand(-1, -1, -1, -1, f)).mean(dim=-2)
        return out


class MILBaseline(NetworkBaseline):
    """A MIL baseline on its instance network (``network`` with bag score ``top_k``), with a seeded generator
    for pairing bags."""

    network: ClassVar[type] = InstanceNetwork
    top_k: ClassVar[bool] = True

    def build(self, variables: int, channels: int, weeks: int) -> InstanceNetwork:
        self.generator = torch.Generator().manual_seed(self.seed)
        return self.network(variables, channels, self.settings["hidden"], top_k=self.top_k)


class MagnitudeMILBaseline(MILBaseline):
    """A MIL baseline on a :class:`MagnitudeNetwork`: the bag BCE plus :meth:`magnitude_loss`."""

    network = MagnitudeNetwork

    def loss(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        pos, neg = bags(batch)
        magnitudes = out["selected"][pos].norm(dim=-1), out["selected"][neg].norm(dim=-1)
        return bag_bce(out, pos, neg) + self.magnitude_loss(*magnitudes, instances_of(out["scores"], pos))

    def magnitude_loss(self, m_pos: torch.Tensor, m_neg: torch.Tensor, scores_pos: torch.Tensor) -> torch.Tensor:
        """The method's terms from the magnitudes [bags] of the mean top-k features of the positive and the
        negative bags and the instance scores [bags, V, T] of the positive bags."""
        raise NotImplementedError
