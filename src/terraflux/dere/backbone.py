"""Informer-style encoder-decoder (Zhou et al. 2021, AAAI 35: 11106-11115) for sequence-to-sequence regression
over one window (no calendar embedding).

Shapes: input ``x`` [B, L, n_in] -> output [B, L, n_out]. The encoder embeds x (circular conv token embedding
+ sinusoidal positions), runs ``e_layers`` attention layers with distilling convolutions between them (each
halves the length); the decoder input is a start token (by default the first month of x; any [B, 1, n_token]
may be given) followed by L zeros, embedded, and runs ``d_layers`` layers of self-attention and
cross-attention to the encoder memory; the last L positions are projected to n_out.

Attention: ``full`` uses ``torch.nn.functional.scaled_dot_product_attention`` (fused kernels where the
device has them); ``prob`` is Informer's ProbSparse self-attention: the top-u queries by sparsity measure
M(q) = max(qK_s) - mean(qK_s) over a random key sample (u = factor * ceil(ln L)) attend fully (through the
same fused kernel), the others take the mean of V. Cross-attention is always full.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class BackboneConfig:
    """Sizes and attention of a backbone, all from the config (``dere.backbone``, ``dere.pft_model``):
    ``factor`` is ProbSparse's sampling factor c (None with full attention, which does not sample)."""

    d_model: int
    n_heads: int
    e_layers: int
    d_layers: int
    d_ff: int
    dropout: float
    attention: str
    factor: int | None

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} must be a multiple of n_heads {self.n_heads}")
        if self.attention not in ("full", "prob"):
            raise ValueError(f"attention must be 'full' or 'prob', not {self.attention!r}")
        if self.attention == "prob" and not self.factor:
            raise ValueError("ProbSparse attention needs its sampling factor (config key `factor`)")

    @classmethod
    def from_dict(cls, spec: dict) -> BackboneConfig:
        """The fields from a config section that holds every one of them (other keys are ignored)."""
        return cls(**{name: spec[name] for name in cls.__dataclass_fields__})


def positional_encoding(length: int, d_model: int, device=None) -> torch.Tensor:
    """Sinusoidal positions [length, d_model]."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d_model, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(length, d_model, device=device)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : d_model // 2]
    return pe


class TokenEmbedding(nn.Module):
    """Circular 1-D convolution (kernel 3) of the channels to d_model, plus sinusoidal positions."""

    def __init__(self, n_in: int, d_model: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(n_in, d_model, 3, padding=1, padding_mode="circular")
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x.transpose(1, 2)).transpose(1, 2)
        return self.dropout(h + positional_encoding(x.shape[1], h.shape[-1], x.device).to(h.dtype))


def prob_sparse_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, factor: int, dropout_p: float
) -> torch.Tensor:
    """ProbSparse attention, q/k/v [B, H, L, E] -> [B, H, Lq, E] (no mask: bidirectional)."""
    b, h, lq, e = q.shape
    lk = k.shape[2]
    n_sample = min(factor * math.ceil(math.log(lk + 1)), lk)
    n_top = min(factor * math.ceil(math.log(lq + 1)), lq)
    if n_top >= lq:  # short sequences: ProbSparse degenerates to full attention
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
    sample = torch.randint(lk, (lq, n_sample), device=q.device)
    k_sample = k[:, :, sample, :]  # [B, H, Lq, S, E]
    qk = torch.einsum("bhle,bhlse->bhls", q, k_sample)
    measure = qk.max(-1).values - qk.sum(-1) / lk
    top = measure.topk(n_top, dim=-1, sorted=False).indices  # [B, H, u]
    gather = top[..., None].expand(-1, -1, -1, e)
    q_top = torch.gather(q, 2, gather)
    out_top = F.scaled_dot_product_attention(q_top, k, v, dropout_p=dropout_p)
    context = v.mean(2, keepdim=True).expand(b, h, lq, e)
    return context.scatter(2, gather, out_top.to(context.dtype))


class AttentionLayer(nn.Module):
    """Multi-head attention with full or ProbSparse scoring; [B, L, d] -> [B, L, d]."""

    def __init__(self, d_model: int, n_heads: int, kind: str, factor: int | None, dropout: float) -> None:
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(d_model, d_model) for _ in range(4))
        self.n_heads, self.kind, self.factor, self.dropout = n_heads, kind, factor, dropout

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        b, lq, d = query.shape
        split = lambda t: t.view(b, t.shape[1], self.n_heads, d // self.n_heads).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.q(query)), split(self.k(key)), split(self.v(value))
        p = self.dropout if self.training else 0.0
        if self.kind == "prob":
            out = prob_sparse_attention(q, k, v, self.factor, p)
        else:
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        return self.o(out.transpose(1, 2).reshape(b, lq, d))


class FeedForward(nn.Module):
    def __init__(self, d_model: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model), nn.Dropout(dropout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class EncoderLayer(nn.Module):
    def __init__(self, cfg: BackboneConfig, kind: str) -> None:
        super().__init__()
        self.attn = AttentionLayer(cfg.d_model, cfg.n_heads, kind, cfg.factor, cfg.dropout)
        self.ff = FeedForward(cfg.d_model, cfg.d_ff, cfg.dropout)
        self.norm1, self.norm2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.drop(self.attn(x, x, x)))
        return self.norm2(x + self.ff(x))


class DistilConv(nn.Module):
    """Informer's distilling layer: conv, batch norm, ELU, max-pool with stride 2 (halves the length)."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(d_model, d_model, 3, padding=1, padding_mode="circular")
        self.norm = nn.BatchNorm1d(d_model)
        self.pool = nn.MaxPool1d(3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(F.elu(self.norm(self.conv(x.transpose(1, 2))))).transpose(1, 2)


class Encoder(nn.Module):
    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(cfg, cfg.attention) for _ in range(cfg.e_layers))
        self.distil = nn.ModuleList(DistilConv(cfg.d_model) for _ in range(cfg.e_layers - 1))
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.distil):
                x = self.distil[i](x)
        return self.norm(x)


class DecoderLayer(nn.Module):
    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        self.self_attn = AttentionLayer(cfg.d_model, cfg.n_heads, cfg.attention, cfg.factor, cfg.dropout)
        self.cross_attn = AttentionLayer(cfg.d_model, cfg.n_heads, "full", cfg.factor, cfg.dropout)
        self.ff = FeedForward(cfg.d_model, cfg.d_ff, cfg.dropout)
        self.norms = nn.ModuleList(nn.LayerNorm(cfg.d_model) for _ in range(3))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        x = self.norms[0](x + self.drop(self.self_attn(x, x, x)))
        x = self.norms[1](x + self.drop(self.cross_attn(x, memory, memory)))
        return self.norms[2](x + self.ff(x))


class Decoder(nn.Module):
    """Decoder layers and a projection to n_out: [B, 1+L, d] with memory -> [B, L, n_out]."""

    def __init__(self, cfg: BackboneConfig, n_out: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.d_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.projection = nn.Linear(cfg.d_model, n_out)

    def forward(self, h: torch.Tensor, memory: torch.Tensor, length: int) -> torch.Tensor:
        for layer in self.layers:
            h = layer(h, memory)
        return self.projection(self.norm(h))[:, -length:]


class Backbone(nn.Module):
    """The full encoder-decoder; ``n_token`` is the width of the decoder's start token (default n_in)."""

    def __init__(self, n_in: int, n_out: int, cfg: BackboneConfig, n_token: int | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.enc_embedding = TokenEmbedding(n_in, cfg.d_model, cfg.dropout)
        self.encoder = Encoder(cfg)
        self.n_token = n_token or n_in
        self.dec_embedding = TokenEmbedding(self.n_token, cfg.d_model, cfg.dropout)
        self.decoder = Decoder(cfg, n_out)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.enc_embedding(x))

    def decoder_input(self, x: torch.Tensor, token: torch.Tensor | None) -> torch.Tensor:
        token = x[:, :1] if token is None else token.reshape(x.shape[0], 1, -1)
        return self.dec_embedding(torch.cat([token, token.new_zeros(x.shape[0], x.shape[1], token.shape[-1])], 1))

    def forward(self, x: torch.Tensor, token: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(self.decoder_input(x, token), self.encode(x), x.shape[1])
