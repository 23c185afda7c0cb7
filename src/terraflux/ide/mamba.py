"""Selective state-space (Mamba) mixing inside 3-D windows, per variable: the IDE ``mamba`` backbone's mixer.

Mamba: Gu & Dao, "Mamba: linear-time sequence modeling with selective state spaces" (arXiv:2312.00752). As in
the reference IDE encoder (Shams Eddin & Gall, NeurIPS 2024, github.com/HakamShams/IDEE), the Video Swin
layout is kept and each (shifted) window's tokens, in (week, row, column) order, are one sequence scanned by a
Mamba block (state size ``mamba_state``, expansion ``mamba_expand``, causal convolution ``mamba_conv``) in place
of window attention.

The block is ``mambapy``'s (pure PyTorch, a parallel scan: runs on CPU and GPU). Where the ``mamba-ssm``
package and a CUDA device are present, its fused CUDA selective-scan kernel computes the scan instead (same
weights, same result up to float32 rounding; run in float32, which the kernel path needs).
"""

from __future__ import annotations

import torch
from mambapy.mamba import MambaBlock, MambaConfig
from torch import nn


def cuda_kernels_installed() -> bool:
    """Whether ``mamba-ssm``'s CUDA selective-scan kernel can be imported."""
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return False
    return True


def window_partition(x: torch.Tensor, window: tuple[int, int, int]) -> torch.Tensor:
    """[B, T, H, W, D] (T, H, W multiples of ``window``) -> [B * windows, wt * wh * ww, D] in (t, h, w) order."""
    b, t, h, w, d = x.shape
    wt, wh, ww = window
    x = x.reshape(b, t // wt, wt, h // wh, wh, w // ww, ww, d).permute(0, 1, 3, 5, 2, 4, 6, 7)
    return x.reshape(-1, wt * wh * ww, d)


def window_reverse(windows: torch.Tensor, window: tuple[int, int, int], size: tuple[int, ...]) -> torch.Tensor:
    """Inverse of :func:`window_partition`: -> [B, T, H, W, D] for ``size`` = (B, T, H, W)."""
    b, t, h, w = size
    wt, wh, ww = window
    x = windows.reshape(b, t // wt, h // wh, w // ww, wt, wh, ww, -1).permute(0, 1, 4, 2, 5, 3, 6, 7)
    return x.reshape(b, t, h, w, -1)


class WindowMamba3d(nn.Module):
    """One Mamba block per variable over the tokens of each 3-D window: [N, V, T, H, W, D] -> the same.

    T, H, W must be multiples of the window (the caller pads). ``use_cuda_kernels``: None = wherever
    ``mamba-ssm`` is installed and the input is on a CUDA device; False = always the pure-PyTorch scan.
    """

    def __init__(
        self,
        groups: int,
        dim: int,
        window: tuple[int, int, int],
        *,
        state: int,
        expand: int,
        conv: int,
        use_cuda_kernels: bool | None = None,
    ):
        super().__init__()
        self.window = tuple(window)
        self.kernels = cuda_kernels_installed() if use_cuda_kernels is None else use_cuda_kernels
        self.mixers = nn.ModuleList(
            MambaBlock(
                MambaConfig(d_model=dim, n_layers=1, d_state=state, expand_factor=expand, d_conv=conv, pscan=True)
            )
            for _ in range(groups)
        )
        if self.kernels:
            from mamba_ssm.ops.selective_scan_interface import selective_scan_fn  # type: ignore[import-not-found]

            for mixer in self.mixers:
                mixer.selective_scan_cuda = selective_scan_fn

    def forward(self, x: torch.Tensor, shift: tuple[int, int, int]) -> torch.Tensor:
        n, v, t, h, w, d = x.shape
        if any(shift):
            x = torch.roll(x, shifts=tuple(-s for s in shift), dims=(2, 3, 4))
        kernels = self.kernels and x.is_cuda
        out = []
        for i, mixer in enumerate(self.mixers):
            mixer.config.use_cuda = kernels
            seq = window_partition(x[:, i], self.window)
            if kernels:  # the fused kernel path runs in float32
                with torch.autocast("cuda", enabled=False):
                    y = mixer(seq.float()).to(seq.dtype)
            else:
                y = mixer(seq)
            out.append(window_reverse(y, self.window, (n, t, h, w)))
        y = torch.stack(out, 1)
        if any(shift):
            y = torch.roll(y, shifts=shift, dims=(2, 3, 4))
        return y
