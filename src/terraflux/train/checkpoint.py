"""State copies for checkpoints (written and read through :mod:`terraflux.outputs`)."""

from __future__ import annotations

import torch


def cpu_state_dict(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of a module's state dict (for best-model snapshots and device-free files)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}
