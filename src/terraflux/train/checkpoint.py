"""Checkpoints written atomically and read safely.

``save_checkpoint`` writes with ``torch.save`` to a hidden sibling and renames it (a job killed while
writing leaves the previous checkpoint intact). ``load_checkpoint`` always uses ``weights_only=True``
and an explicit ``map_location``: a checkpoint holds tensors, numbers, strings, lists and dicts only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from terraflux.errors import DataError
from terraflux.workflow.atomic import atomic_output

import torch


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically; returns the path."""
    path = Path(path)
    with atomic_output(path) as tmp:
        torch.save(state, tmp)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; a missing or unreadable file is a DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"checkpoint {path} does not exist: run the stage that writes it first")
    try:
        return torch.load(path, weights_only=True, map_location=map_location)
    except Exception as error:  # truncated, corrupt, or not a safe checkpoint
        raise DataError(
            f"checkpoint {path} cannot be read ({error}); delete it and rerun the stage that writes it"
        ) from error


def cpu_state_dict(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of a module's state dict (for best-model snapshots and device-free files)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}
