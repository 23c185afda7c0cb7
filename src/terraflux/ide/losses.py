"""Losses of the IDE model (shapes as in :mod:`terraflux.ide.model`).

total = weighted BCE(joint logits) + sum over variables of weighted BCE(variable logits)
        + ``driver_weight`` (config ide.train; the reference: 100) * driver loss
        + codebook loss (commitment, entropy or quantisation terms of the codebook, in the quantiser)

- class weights per batch, over valid pixels: w_c = log((n_c / n)^-0.5 + 1.1) for c in {normal, extreme};
- driver loss: where no (loose) extreme occurred at a pixel in the whole window, every variable and week
  is pulled to the "normal" code: the quantiser's driver score (the code's index, with the straight-through
  gradient of ||code - normal||_1 / ||driver - normal||_1 at driver codes; |code + 1| / 2 for the codes +-1
  of LFQ), averaged there. It is exactly 0, with no gradient, for codes already normal, so it penalises
  anomalous codes outside extremes without pushing every pre-quantisation value towards -infinity.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def class_weights(target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Per-pixel weights [N, H, W] from the batch's class frequencies among valid pixels (0 where invalid)."""
    valid_f = valid.float()
    n = valid_f.sum().clamp_min(1)
    n_pos = (target.float() * valid_f).sum()
    n_neg = n - n_pos
    w_pos = torch.log((n_pos / n).clamp_min(1e-12) ** -0.5 + 1.1)
    w_neg = torch.log((n_neg / n).clamp_min(1e-12) ** -0.5 + 1.1)
    return torch.where(target.bool(), w_pos, w_neg) * valid_f


def weighted_bce(logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """BCE with logits, weighted per pixel, normalised by the number of weighted pixels."""
    loss = F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="none")
    return (loss * weights).sum() / (weights > 0).sum().clamp_min(1)


def driver_loss(score: torch.Tensor, normal: torch.Tensor) -> torch.Tensor:
    """Share of driver codes over variables, weeks and the ``normal`` pixels, as the mean driver score.

    score [N, V, T, H, W] in {0, 1} (straight-through; :class:`~terraflux.ide.model.BinaryQuantizer`),
    normal [N, H, W] bool.
    """
    mask = normal[:, None, None].expand_as(score).float()
    return (score.float() * mask).sum() / mask.sum().clamp_min(1)


def ide_loss(
    out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], driver_weight: float
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The total loss and its parts (detached) for logging."""
    target, valid = batch["target"], batch["valid"]
    weights = class_weights(target, valid)
    joint = weighted_bce(out["logits"], target, weights)
    per_var = sum(
        weighted_bce(out["variable_logits"][:, v], target, weights) for v in range(out["variable_logits"].shape[1])
    )
    drivers = driver_loss(out["driver_score"], batch["normal"])
    total = joint + per_var + driver_weight * drivers + out["codebook_loss"]
    parts = {
        "bce": joint.detach(),
        "bce_variables": per_var.detach(),
        "driver": drivers.detach(),
        "codebook": out["codebook_loss"].detach(),
    }
    return total, parts
