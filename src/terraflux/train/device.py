"""Device selection at run time and mixed precision.

:func:`select_device` picks CUDA when present (else CPU) and describes it (recorded in provenance);
:func:`autocast` gives bf16 autocast on CUDA and a no-op context on CPU (CPU runs stay fp32, bit-exact).
"""

from __future__ import annotations

import contextlib
import os
import platform
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DeviceInfo:
    """The device a job runs on: ``device`` for ``.to()``, ``name`` (GPU model or CPU), ``threads``."""

    device: torch.device
    name: str
    threads: int
    bf16: bool

    def as_dict(self) -> dict:
        return {"device": str(self.device), "name": self.name, "threads": self.threads, "bf16_autocast": self.bf16}


def select_device(prefer: str = "auto", *, threads: int | None = None) -> DeviceInfo:
    """CUDA if available (``prefer='auto'``), else CPU; ``prefer='cpu'`` forces CPU.

    ``threads`` caps torch's intra-op CPU threads (the job's ``threads``); default: leave torch's choice.
    """
    if prefer not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device preference must be auto, cpu or cuda, not {prefer!r}")
    if threads:
        torch.set_num_threads(int(threads))
    if prefer != "cpu" and torch.cuda.is_available():
        device = torch.device("cuda", torch.cuda.current_device())
        name = torch.cuda.get_device_name(device)
        bf16 = torch.cuda.is_bf16_supported()
    else:
        if prefer == "cuda":
            raise RuntimeError(
                "CUDA was asked for but torch sees no GPU (check CUDA_VISIBLE_DEVICES and the torch build)"
            )
        device = torch.device("cpu")
        name = platform.processor() or platform.machine() or "cpu"
        bf16 = False
    return DeviceInfo(device=device, name=name, threads=torch.get_num_threads() or os.cpu_count() or 1, bf16=bf16)


def autocast(info: DeviceInfo):
    """Context manager: bf16 autocast on a CUDA device that supports it, otherwise nothing (fp32)."""
    if info.device.type == "cuda" and info.bf16:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
