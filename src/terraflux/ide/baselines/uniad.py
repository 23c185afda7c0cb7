"""UniAD (You et al., "A unified model for multi-class anomaly detection", NeurIPS 2022, arXiv:2206.03687),
adapted to drivers (:mod:`terraflux.ide.baselines.reconstruction`): the tokens of a pixel's window are its
(variable, week) voxels, each with its 3 x 3 spatial neighbourhood of all channels, embedded with a learned
position per (variable, week); a transformer layer with a neighbour mask (a token attends to no token of its
own variable within one week of it, itself included, so it cannot copy itself) reconstructs each voxel's
channels. Feature jittering: during training, Gaussian noise of ``JITTER`` x the tokens' RMS is added to the
embedded tokens."""

from __future__ import annotations

from terraflux.ide.baselines.reconstruction import ReconstructionBaseline

import torch
import torch.nn.functional as F
from torch import nn

JITTER = 0.2
HEADS = 1


class NeighbourMaskedTransformer(nn.Module):
    def __init__(self, variables: int, channels: int, weeks: int, dim: int):
        super().__init__()
        self.embed = nn.Linear(channels * 9, dim)
        self.position = nn.Parameter(torch.zeros(variables * weeks, dim))
        nn.init.normal_(self.position, std=0.02)
        self.attention = nn.MultiheadAttention(dim, HEADS, batch_first=True)
        self.mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.out = nn.Linear(dim, channels)
        v = torch.arange(variables).repeat_interleave(weeks)
        t = torch.arange(weeks).repeat(variables)
        self.register_buffer("mask", (v[:, None] == v[None]) & ((t[:, None] - t[None]).abs() <= 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, v, c, t, h, w = x.shape
        patches = F.unfold(x.reshape(n, v * c * t, h, w), 3, padding=1)  # [N, V*C*T*9, H*W]
        tokens = patches.reshape(n, v, c, t, 9, h * w).permute(0, 5, 1, 3, 2, 4).reshape(n * h * w, v * t, c * 9)
        z = self.embed(tokens)
        if self.training:
            z = z + torch.randn_like(z) * JITTER * z.pow(2).mean().sqrt().detach()
        z = z + self.position
        attended, _ = self.attention(self.position.expand_as(z), z, z, attn_mask=self.mask, need_weights=False)
        z = attended + self.mlp(attended)
        rec = self.out(z)  # [N*H*W, V*T, C]
        return rec.reshape(n, h, w, v, t, c).permute(0, 3, 5, 4, 1, 2)


class UniAD(ReconstructionBaseline):
    label = "UniAD"

    def network(self, variables: int, channels: int, weeks: int) -> nn.Module:
        return NeighbourMaskedTransformer(variables, channels, weeks, 2 * self.settings["hidden"])
