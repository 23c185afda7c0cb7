"""SimpleTM (Chen et al., ICLR 2025, https://openreview.net/forum?id=oANkBaVci5): wavelet tokenisation and
geometric attention across variates.

- Tokens: each driver's window [L] embedded linearly to d (as in iTransformer).
- Wavelet tokenisation: a stationary (undecimated, a trous) wavelet transform of every token along its d
  features, ``wavelet_levels`` levels, with the analysis and synthesis filters initialised from a PyWavelets
  orthogonal wavelet (``wavelet``) and learned; circular boundaries. With the initial filters the inverse
  transform reconstructs the input exactly: a_j = (H_j^T a_{j+1} + G_j^T d_{j+1}) / 2, since
  |H(w)|^2 + |G(w)|^2 = 2 for an orthogonal filter pair.
- Geometric attention across the variate tokens, per wavelet component with shared weights: the score of a
  query q and key k is ((1 - a) <q, k> + a ||q ^ k||) / sqrt(E), where ||q ^ k|| = sqrt(|q|^2 |k|^2 - <q, k>^2)
  is the norm of the wedge (outer) product, the part of the geometric product that the dot product misses;
  a = ``geometric_weight``.
- After the inverse transform: residual, LayerNorm, feed-forward, LayerNorm per layer; the head maps each
  token to L steps and the variates linearly to the outputs (as :mod:`.itransformer`).
"""

from __future__ import annotations

import math

from terraflux.dere.backbones.base import BackboneConfig, SequenceBackbone
from terraflux.dere.backbones.layers import FeedForward, VariateEmbedding, VariateHead

import pywt
import torch
import torch.nn.functional as F
from torch import nn


class StationaryWavelet(nn.Module):
    """Learned stationary wavelet transform along the last axis: ``analyse`` [..., d] -> [..., levels + 1, d]
    (coarsest approximation first, then details from coarse to fine); ``synthesise`` inverts it."""

    def __init__(self, wavelet: str, levels: int, length: int) -> None:
        super().__init__()
        try:
            w = pywt.Wavelet(wavelet)
        except ValueError as err:
            raise ValueError(f"unknown wavelet {wavelet!r} (config key `wavelet`; PyWavelets names)") from err
        if not w.orthogonal:
            raise ValueError(f"wavelet {wavelet!r} is not orthogonal (config key `wavelet`): use e.g. haar, db2, sym4")
        reach = 2 ** (levels - 1) * (w.dec_len - 1)
        if reach > length:
            raise ValueError(
                f"{levels} levels of {wavelet!r} reach {reach} > d_model {length} (config keys wavelet_levels, d_model)"
            )
        filters = torch.tensor([w.dec_lo, w.dec_hi], dtype=torch.float32)  # [2, K]
        self.analysis = nn.Parameter(filters.clone())
        self.synthesis = nn.Parameter(filters.clone())
        self.levels = levels

    @staticmethod
    def _correlate(x: torch.Tensor, taps: torch.Tensor, dilation: int, left: bool) -> torch.Tensor:
        """Circular correlation of rows x [R, 1, d] with each filter taps [2, K]: [R, 2, d]. ``left`` pads before
        (the transpose of the right-padded correlation when the taps are reversed)."""
        pad = dilation * (taps.shape[-1] - 1)
        x = F.pad(x, (pad, 0) if left else (0, pad), mode="circular")
        return F.conv1d(x, taps[:, None, :], dilation=dilation)

    def analyse(self, x: torch.Tensor) -> torch.Tensor:
        shape, approx, details = x.shape, x.reshape(-1, 1, x.shape[-1]), []
        for j in range(self.levels):
            out = self._correlate(approx, self.analysis, 2**j, left=False)
            approx = out[:, :1]
            details.append(out[:, 1:])
        parts = [approx, *reversed(details)]
        return torch.cat(parts, 1).view(*shape[:-1], self.levels + 1, shape[-1])

    def synthesise(self, c: torch.Tensor) -> torch.Tensor:
        shape = c.shape
        c = c.reshape(-1, self.levels + 1, shape[-1])
        approx = c[:, :1]
        for i, j in enumerate(reversed(range(self.levels))):
            pair = torch.cat([approx, c[:, i + 1 : i + 2]], 1)  # [R, 2, d]: approximation, detail of level j
            pad = 2**j * (self.synthesis.shape[-1] - 1)
            x = F.pad(pair, (pad, 0), mode="circular")
            taps = self.synthesis.flip(-1)[None]  # [1, 2, K]: both channels summed
            approx = F.conv1d(x, taps, dilation=2**j) / 2
        return approx.view(*shape[:-2], shape[-1])


class GeometricAttention(nn.Module):
    """Multi-head attention with the geometric score (module docstring): [B, N, d] -> [B, N, d]."""

    def __init__(self, d_model: int, n_heads: int, weight: float, dropout: float) -> None:
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(d_model, d_model) for _ in range(4))
        self.n_heads, self.weight = n_heads, weight
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        split = lambda t: t.view(b, n, self.n_heads, d // self.n_heads).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        dot = q @ k.transpose(-1, -2)  # [B, H, N, N]
        norms = q.pow(2).sum(-1)[..., :, None] * k.pow(2).sum(-1)[..., None, :]
        wedge = (norms - dot.pow(2)).clamp_min(0).add(1e-6).sqrt()
        score = ((1 - self.weight) * dot + self.weight * wedge) / math.sqrt(q.shape[-1])
        out = self.dropout(score.softmax(-1)) @ v
        return self.o(out.transpose(1, 2).reshape(b, n, d))


class SimpleTMLayer(nn.Module):
    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        self.wavelet = StationaryWavelet(cfg.wavelet, cfg.wavelet_levels, cfg.d_model)
        self.attn = GeometricAttention(cfg.d_model, cfg.n_heads, cfg.geometric_weight, cfg.dropout)
        self.ff = FeedForward(cfg.d_model, cfg.d_ff, cfg.dropout)
        self.norm1, self.norm2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b, n, d = h.shape
        parts = self.wavelet.analyse(h).transpose(1, 2)  # [B, C, N, d]
        mixed = self.attn(parts.reshape(-1, n, d)).view(parts.shape).transpose(1, 2)  # [B, N, C, d]
        h = self.norm1(h + self.drop(self.wavelet.synthesise(mixed)))
        return self.norm2(h + self.ff(h))


class SimpleTM(SequenceBackbone):
    def __init__(self, n_in: int, n_out: int, length: int, cfg: BackboneConfig, n_heads: int = 1) -> None:
        super().__init__()
        self.embedding = VariateEmbedding(length, cfg.d_model, cfg.dropout)
        self.layers = nn.ModuleList(SimpleTMLayer(cfg) for _ in range(cfg.e_layers))
        self.heads = nn.ModuleList(VariateHead(cfg.d_model, length, n_in, n_out) for _ in range(n_heads))

    def encode(self, x: torch.Tensor, token: torch.Tensor | None = None) -> torch.Tensor:
        h = self.embedding(x)
        for layer in self.layers:
            h = layer(h)
        return h

    def decode(self, state: torch.Tensor, head: int) -> torch.Tensor:
        return self.heads[head](state)
