"""CSDI (Tashiro et al. 2021), our own implementation: conditional score-based diffusion for imputation.

Data: ``x`` [B, K, L] (K channels: the target flux first, then drivers; normalised), ``observed`` [B, K, L]
(1 where a value exists), ``cond`` [B, K, L] (1 where the value is given to the model). The network predicts
the noise of the non-conditioned entries from (cond * x, (1 - cond) * noisy x), side information (sinusoidal
time embedding, learned feature embedding, the cond mask) and the diffusion step, through residual layers
with a transformer over time and one over features, gated activations and skip connections.

Schedule: quadratic betas from ``beta_start`` to ``beta_end`` over ``num_steps``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class CSDIConfig:
    layers: int
    channels: int
    heads: int
    diffusion_embedding: int
    time_embedding: int
    feature_embedding: int
    num_steps: int
    beta_start: float
    beta_end: float

    @classmethod
    def from_dict(cls, d: dict) -> CSDIConfig:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})


def sinusoid(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """[..., ] positions -> [..., dim] sin/cos features."""
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, device=positions.device, dtype=torch.float32) / dim)
    angles = positions.float()[..., None] * freq
    return torch.cat([torch.sin(angles), torch.cos(angles)], -1)[..., :dim]


class DiffusionEmbedding(nn.Module):
    def __init__(self, num_steps: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("table", sinusoid(torch.arange(num_steps), dim), persistent=False)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim), nn.SiLU())

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.table[t])


def _transformer(channels: int, heads: int) -> nn.TransformerEncoderLayer:
    return nn.TransformerEncoderLayer(
        channels, heads, dim_feedforward=64, activation="gelu", batch_first=True, dropout=0.0
    )


class ResidualBlock(nn.Module):
    def __init__(self, side_dim: int, channels: int, emb_dim: int, heads: int) -> None:
        super().__init__()
        self.diffusion_projection = nn.Linear(emb_dim, channels)
        self.cond_projection = nn.Conv1d(side_dim, 2 * channels, 1)
        self.mid_projection = nn.Conv1d(channels, 2 * channels, 1)
        self.output_projection = nn.Conv1d(channels, 2 * channels, 1)
        self.time_layer = _transformer(channels, heads)
        self.feature_layer = _transformer(channels, heads)

    def forward(self, x: torch.Tensor, side: torch.Tensor, emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, k, length = x.shape
        y = x + self.diffusion_projection(emb)[:, :, None, None]
        if length > 1:
            y = (
                self.time_layer(y.permute(0, 2, 3, 1).reshape(b * k, length, c))
                .reshape(b, k, length, c)
                .permute(0, 3, 1, 2)
            )
        if k > 1:
            y = (
                self.feature_layer(y.permute(0, 3, 2, 1).reshape(b * length, k, c))
                .reshape(b, length, k, c)
                .permute(0, 3, 2, 1)
            )
        y = self.mid_projection(y.reshape(b, c, k * length)) + self.cond_projection(
            side.reshape(b, side.shape[1], k * length)
        )
        gate, filt = y.chunk(2, 1)
        y = self.output_projection(torch.sigmoid(gate) * torch.tanh(filt))
        residual, skip = y.chunk(2, 1)
        return (x + residual.reshape(x.shape)) / math.sqrt(2.0), skip.reshape(x.shape)


class CSDI(nn.Module):
    """The noise model eps(x_t, cond, side, t) -> [B, K, L], plus the diffusion schedule as buffers."""

    def __init__(self, n_channels: int, cfg: CSDIConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.n_channels = n_channels
        side_dim = cfg.time_embedding + cfg.feature_embedding + 1
        self.feature_embedding = nn.Embedding(n_channels, cfg.feature_embedding)
        self.diffusion_embedding = DiffusionEmbedding(cfg.num_steps, cfg.diffusion_embedding)
        self.input_projection = nn.Conv1d(2, cfg.channels, 1)
        self.blocks = nn.ModuleList(
            ResidualBlock(side_dim, cfg.channels, cfg.diffusion_embedding, cfg.heads) for _ in range(cfg.layers)
        )
        self.skip_projection = nn.Conv1d(cfg.channels, cfg.channels, 1)
        self.output_projection = nn.Conv1d(cfg.channels, 1, 1)
        nn.init.zeros_(self.output_projection.weight)
        nn.init.zeros_(self.output_projection.bias)
        beta = torch.linspace(cfg.beta_start**0.5, cfg.beta_end**0.5, cfg.num_steps, dtype=torch.float64) ** 2
        self.register_buffer("beta", beta.float())
        self.register_buffer("alpha", (1 - beta).float())
        self.register_buffer("alpha_hat", torch.cumprod(1 - beta, 0).float())

    def side_info(self, cond: torch.Tensor) -> torch.Tensor:
        """[B, K, L] cond mask -> side information [B, side_dim, K, L]."""
        b, k, length = cond.shape
        time = sinusoid(torch.arange(length, device=cond.device), self.cfg.time_embedding)  # [L, T]
        time = time.T[None, :, None, :].expand(b, -1, k, -1)
        feat = self.feature_embedding(torch.arange(k, device=cond.device)).T[None, :, :, None].expand(b, -1, -1, length)
        return torch.cat([time, feat, cond[:, None]], 1)

    def forward(
        self,
        x: torch.Tensor,
        noisy: torch.Tensor,
        cond: torch.Tensor,
        t: torch.Tensor,
        side: torch.Tensor | None = None,
    ) -> torch.Tensor:
        b, k, length = x.shape
        side = self.side_info(cond) if side is None else side
        h = torch.stack([cond * x, (1 - cond) * noisy], 1).reshape(b, 2, k * length)
        h = F.relu(self.input_projection(h)).reshape(b, -1, k, length)
        emb = self.diffusion_embedding(t)
        skips = 0
        for block in self.blocks:
            h, skip = block(h, side, emb)
            skips = skips + skip
        out = F.relu(self.skip_projection((skips / math.sqrt(len(self.blocks))).reshape(b, -1, k * length)))
        return self.output_projection(out).reshape(b, k, length)

    def loss(
        self,
        x: torch.Tensor,
        observed: torch.Tensor,
        cond: torch.Tensor,
        target_channels: int = 1,
        t: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Denoising loss on hidden observed entries of the first ``target_channels`` channels (global RNG);
        diffusion steps ``t`` [B] (default: uniform random)."""
        if t is None:
            t = torch.randint(0, self.cfg.num_steps, (x.shape[0],), device=x.device)
        a = self.alpha_hat[t][:, None, None]
        noise = torch.randn_like(x)
        noisy = a.sqrt() * x + (1 - a).sqrt() * noise
        pred = self(x, noisy, cond, t)
        target = observed - cond
        target[:, target_channels:] = 0
        n = target.sum()
        return ((noise - pred) * target).pow(2).sum() / n.clamp_min(1.0)
