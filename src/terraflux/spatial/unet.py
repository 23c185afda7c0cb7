"""A light U-Net (two downsamplings) with an optional diffusion-time embedding, and its encoder alone.

Fields are [batch, channels, y, x] of any size: inputs are padded (reflect) to a multiple of 4 and the
output cropped back. ``width`` channels at full resolution, 2 x width at 1/2, 4 x width at 1/4.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels), channels)


class Block(nn.Module):
    """Two 3x3 convolutions with group norm and SiLU, plus a per-channel shift from an embedding."""

    def __init__(self, c_in: int, c_out: int, emb: int = 0):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.norm1, self.norm2 = _norm(c_out), _norm(c_out)
        self.emb = nn.Linear(emb, c_out) if emb else None
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, emb=None):
        h = F.silu(self.norm1(self.conv1(x)))
        if self.emb is not None and emb is not None:
            h = h + self.emb(emb)[:, :, None, None]
        h = F.silu(self.norm2(self.conv2(h)))
        return h + self.skip(x)


def pad4(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """``x`` padded at the bottom/right (reflect) to a multiple of 4 in y and x, and the original size."""
    ny, nx = x.shape[-2:]
    py, px = (-ny) % 4, (-nx) % 4
    if py or px:
        x = F.pad(x, (0, px, 0, py), mode="replicate")
    return x, (ny, nx)


class Encoder(nn.Module):
    """Three resolution levels; returns the features of each ([B, w, y, x], [B, 2w, y/2, x/2], [B, 4w, y/4, x/4])."""

    def __init__(self, c_in: int, width: int, emb: int = 0):
        super().__init__()
        self.inc = Block(c_in, width, emb)
        self.down1 = Block(width, 2 * width, emb)
        self.down2 = Block(2 * width, 4 * width, emb)

    def forward(self, x, emb=None):
        h0 = self.inc(x, emb)
        h1 = self.down1(F.avg_pool2d(h0, 2), emb)
        h2 = self.down2(F.avg_pool2d(h1, 2), emb)
        return h0, h1, h2


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding [B, dim] of diffusion steps ``t`` [B]."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class UNet(nn.Module):
    """U-Net [B, c_in, y, x] -> [B, c_out, y, x]; ``time_dim`` > 0 adds a diffusion-step embedding."""

    def __init__(self, c_in: int, c_out: int, width: int = 16, time_dim: int = 0):
        super().__init__()
        self.time_dim = time_dim
        emb = 2 * time_dim if time_dim else 0
        self.time_mlp = nn.Sequential(nn.Linear(time_dim, emb), nn.SiLU(), nn.Linear(emb, emb)) if time_dim else None
        self.encoder = Encoder(c_in, width, emb)
        self.up1 = Block(4 * width + 2 * width, 2 * width, emb)
        self.up0 = Block(2 * width + width, width, emb)
        self.out = nn.Conv2d(width, c_out, 1)

    def forward(self, x, t=None):
        x, (ny, nx) = pad4(x)
        emb = self.time_mlp(timestep_embedding(t, self.time_dim)) if self.time_mlp is not None else None
        h0, h1, h2 = self.encoder(x, emb)
        u1 = self.up1(torch.cat([F.interpolate(h2, size=h1.shape[-2:], mode="nearest"), h1], 1), emb)
        u0 = self.up0(torch.cat([F.interpolate(u1, size=h0.shape[-2:], mode="nearest"), h0], 1), emb)
        return self.out(u0)[..., :ny, :nx]


class Autoencoder(nn.Module):
    """The transfer encoder's pretraining network: :class:`Encoder` and a decoder without skip connections, so
    the coarsest features must carry the field. ``features`` gives the encoder's output at full size."""

    def __init__(self, c_in: int, width: int = 8):
        super().__init__()
        self.encoder = Encoder(c_in, width)
        self.decoder = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            Block(4 * width, 2 * width),
            nn.Upsample(scale_factor=2, mode="nearest"),
            Block(2 * width, width),
            nn.Conv2d(width, c_in, 1),
        )

    def forward(self, x):
        x, (ny, nx) = pad4(x)
        return self.decoder(self.encoder(x)[2])[..., :ny, :nx]

    def features(self, x):
        """Coarsest encoder features [B, 4 width, y, x], upsampled (bilinear) to the input's size."""
        x, (ny, nx) = pad4(x)
        h = self.encoder(x)[2]
        return F.interpolate(h, size=x.shape[-2:], mode="bilinear", align_corners=False)[..., :ny, :nx]
