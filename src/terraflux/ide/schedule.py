"""Learning-rate schedule: linear warm-up then cosine decay, stepped once per optimiser step.

The factor at optimiser step s (0-based; the lr used for that step) is (s + 1) / W during the W warm-up
steps, then min_ratio + (1 - min_ratio) * (1 + cos(pi * (s - W) / (S - W))) / 2 up to the total S steps.
So the first step already runs at lr / W (not a whole epoch at a tiny lr), and the peak lr is reached at
step W - 1. Use it with ``TrainConfig(scheduler_interval="step")``.
"""

from __future__ import annotations

import math

import torch


def warmup_cosine_factor(step: int, warmup: int, total: int, min_ratio: float = 0.0) -> float:
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    span = max(total - warmup, 1)
    progress = min(max(step - warmup, 0) / span, 1.0)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def warmup_cosine(
    optimizer: torch.optim.Optimizer, warmup: int, total: int, min_ratio: float = 0.0
) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR following :func:`warmup_cosine_factor` (checkpointable with the engine)."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine_factor(step, warmup, total, min_ratio)
    )
