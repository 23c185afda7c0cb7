"""FEDformer (Zhou et al., ICML 2022, https://arxiv.org/abs/2201.12740): seasonal-trend decomposition inside
every layer and frequency-enhanced blocks in place of attention.

- Decomposition: trend = moving average over ``moving_avg`` steps (ends padded by repetition), seasonal = x -
  trend.
- Frequency-enhanced block (self-attention's place): per head, the real FFT of the projected queries along
  time, a learned complex E x E weight on each of the ``modes`` lowest frequencies, zero elsewhere, inverse FFT.
- Frequency-enhanced cross block (cross-attention's place): on the kept modes of queries Q and keys K,
  tanh(Q K^T) K (complex), a learned complex weight per mode, inverse FFT to the query length.
- Encoder layers: x += block(x), decompose, x += feed-forward(x), decompose (the seasonal part goes on).
  Decoder layers do the same with the cross block and add up the trends they remove, projected to the outputs
  by a circular convolution.

Sequence-to-sequence over the window: the decoder's seasonal input is the seasonal part of the drivers (the
forecasting version feeds the last known steps plus zeros), the trend starts as a linear map of the drivers'
trend to the outputs; output = trend + projected seasonal. Modes are the lowest frequencies (the paper also
samples them at random). Each output head is one decoder with its trend map.
"""

from __future__ import annotations

from terraflux.dere.backbones.base import BackboneConfig, SequenceBackbone
from terraflux.dere.backbones.layers import TokenEmbedding

import torch
import torch.nn.functional as F
from torch import nn


class Decomposition(nn.Module):
    """x [B, L, C] -> (seasonal, trend), both [B, L, C]; trend = centred moving average of ``kernel`` steps."""

    def __init__(self, kernel: int) -> None:
        super().__init__()
        self.kernel = kernel

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        half = (self.kernel - 1) // 2
        padded = torch.cat([x[:, :1].expand(-1, half, -1), x, x[:, -1:].expand(-1, half, -1)], 1)
        trend = F.avg_pool1d(padded.transpose(1, 2), self.kernel, stride=1).transpose(1, 2)
        return x - trend, trend


def _complex_weight(n_heads: int, e: int, modes: int) -> nn.Parameter:
    scale = 1.0 / (e * e)
    return nn.Parameter(scale * torch.rand(n_heads, e, e, modes, dtype=torch.cfloat))


class FourierBlock(nn.Module):
    """Frequency-enhanced block: q [B, H, E, L] -> [B, H, E, L] on the ``modes`` lowest frequencies."""

    def __init__(self, n_heads: int, e: int, modes: int) -> None:
        super().__init__()
        self.modes = modes
        self.weight = _complex_weight(n_heads, e, modes)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        length = q.shape[-1]
        m = min(self.modes, length // 2 + 1)
        spectrum = torch.fft.rfft(q.float(), dim=-1)
        out = torch.zeros_like(spectrum)
        out[..., :m] = torch.einsum("bhem,heom->bhom", spectrum[..., :m], self.weight[..., :m])
        return torch.fft.irfft(out, n=length, dim=-1)


class FourierCrossBlock(nn.Module):
    """Frequency-enhanced cross block: q [B, H, E, Lq], k [B, H, E, Lk] -> [B, H, E, Lq]."""

    def __init__(self, n_heads: int, e: int, modes: int) -> None:
        super().__init__()
        self.modes = modes
        self.weight = _complex_weight(n_heads, e, modes)

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        lq, lk = q.shape[-1], k.shape[-1]
        mq, mk = min(self.modes, lq // 2 + 1), min(self.modes, lk // 2 + 1)
        qf = torch.fft.rfft(q.float(), dim=-1)[..., :mq]
        kf = torch.fft.rfft(k.float(), dim=-1)[..., :mk]
        scores = torch.einsum("bhex,bhey->bhxy", qf, kf).tanh()
        mixed = torch.einsum("bhxy,bhey->bhex", scores, kf)
        out = torch.zeros(*q.shape[:-1], lq // 2 + 1, dtype=qf.dtype, device=q.device)
        out[..., :mq] = torch.einsum("bhex,heox->bhox", mixed, self.weight[..., :mq])
        return torch.fft.irfft(out, n=lq, dim=-1)


class FrequencyLayer(nn.Module):
    """Projections around a frequency block: queries (and keys for the cross block) [B, L, d] -> [B, Lq, d]."""

    def __init__(self, cfg: BackboneConfig, cross: bool) -> None:
        super().__init__()
        self.h, self.e = cfg.n_heads, cfg.d_model // cfg.n_heads
        self.q, self.o = nn.Linear(cfg.d_model, cfg.d_model), nn.Linear(cfg.d_model, cfg.d_model)
        self.k = nn.Linear(cfg.d_model, cfg.d_model) if cross else None
        block = FourierCrossBlock if cross else FourierBlock
        self.block = block(self.h, self.e, cfg.modes)

    def heads(self, t: torch.Tensor) -> torch.Tensor:
        """[B, L, d] -> [B, H, E, L]."""
        return t.view(t.shape[0], t.shape[1], self.h, self.e).permute(0, 2, 3, 1)

    def forward(self, x: torch.Tensor, memory: torch.Tensor | None = None) -> torch.Tensor:
        q = self.heads(self.q(x))
        out = self.block(q) if self.k is None else self.block(q, self.heads(self.k(memory)))
        return self.o(out.permute(0, 3, 1, 2).reshape(x.shape).to(x.dtype))


class SeasonalNorm(nn.Module):
    """LayerNorm minus its mean over time (the seasonal part has no level): [B, L, d] -> [B, L, d]."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        return h - h.mean(1, keepdim=True)


def _feed_forward(cfg: BackboneConfig) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(cfg.d_model, cfg.d_ff, bias=False),
        nn.GELU(),
        nn.Dropout(cfg.dropout),
        nn.Linear(cfg.d_ff, cfg.d_model, bias=False),
        nn.Dropout(cfg.dropout),
    )


class EncoderLayer(nn.Module):
    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        self.block = FrequencyLayer(cfg, cross=False)
        self.ff = _feed_forward(cfg)
        self.decomp = Decomposition(cfg.moving_avg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, _ = self.decomp(x + self.drop(self.block(x)))
        x, _ = self.decomp(x + self.ff(x))
        return x


class DecoderLayer(nn.Module):
    """Returns the seasonal part [B, L, d] and the removed trend projected to the outputs [B, L, n_out]."""

    def __init__(self, cfg: BackboneConfig, n_out: int) -> None:
        super().__init__()
        self.self_block = FrequencyLayer(cfg, cross=False)
        self.cross_block = FrequencyLayer(cfg, cross=True)
        self.ff = _feed_forward(cfg)
        self.decomp = Decomposition(cfg.moving_avg)
        self.drop = nn.Dropout(cfg.dropout)
        self.trend = nn.Conv1d(cfg.d_model, n_out, 3, padding=1, padding_mode="circular", bias=False)

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, t1 = self.decomp(x + self.drop(self.self_block(x)))
        x, t2 = self.decomp(x + self.drop(self.cross_block(x, memory)))
        x, t3 = self.decomp(x + self.ff(x))
        return x, self.trend((t1 + t2 + t3).transpose(1, 2)).transpose(1, 2)


class Head(nn.Module):
    """One decoder: seasonal input [B, L, d], memory, drivers' trend [B, L, n_in] -> [B, L, n_out]."""

    def __init__(self, cfg: BackboneConfig, n_in: int, n_out: int) -> None:
        super().__init__()
        self.trend_init = nn.Linear(n_in, n_out)
        self.layers = nn.ModuleList(DecoderLayer(cfg, n_out) for _ in range(cfg.d_layers))
        self.norm = SeasonalNorm(cfg.d_model)
        self.projection = nn.Linear(cfg.d_model, n_out)

    def forward(self, h: torch.Tensor, memory: torch.Tensor, trend: torch.Tensor) -> torch.Tensor:
        out = self.trend_init(trend)
        for layer in self.layers:
            h, t = layer(h, memory)
            out = out + t
        return out + self.projection(self.norm(h))


class FEDformer(SequenceBackbone):
    def __init__(self, n_in: int, n_out: int, length: int, cfg: BackboneConfig, n_heads: int = 1) -> None:
        super().__init__()
        self.decomp = Decomposition(cfg.moving_avg)
        self.enc_embedding = TokenEmbedding(n_in, cfg.d_model, cfg.dropout, positions=False)
        self.dec_embedding = TokenEmbedding(n_in, cfg.d_model, cfg.dropout, positions=False)
        self.encoder = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.e_layers))
        self.enc_norm = SeasonalNorm(cfg.d_model)
        self.heads = nn.ModuleList(Head(cfg, n_in, n_out) for _ in range(n_heads))

    def encode(self, x: torch.Tensor, token: torch.Tensor | None = None) -> tuple:
        memory = self.enc_embedding(x)
        for layer in self.encoder:
            memory = layer(memory)
        seasonal, trend = self.decomp(x)
        return self.dec_embedding(seasonal), self.enc_norm(memory), trend

    def decode(self, state: tuple, head: int) -> torch.Tensor:
        return self.heads[head](*state)
