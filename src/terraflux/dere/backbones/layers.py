"""Layers shared by several backbones: sinusoidal positions, the convolutional token embedding, multi-head
attention (full or Informer's ProbSparse), the feed-forward block, a post-norm encoder layer, Informer's
distilling convolution, and the variate-token embedding of iTransformer-style models.

Shapes: B batch, L time steps, N variates, d = d_model, H heads, E = d / H.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def positional_encoding(length: int, d_model: int, device=None) -> torch.Tensor:
    """Sinusoidal positions [length, d_model] (Vaswani et al., NeurIPS 2017)."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d_model, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(length, d_model, device=device)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : d_model // 2]
    return pe


class TokenEmbedding(nn.Module):
    """Circular 1-D convolution (kernel 3) of the channels to d_model, plus sinusoidal positions (``positions``):
    [B, L, n_in] -> [B, L, d]."""

    def __init__(self, n_in: int, d_model: int, dropout: float, positions: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv1d(n_in, d_model, 3, padding=1, padding_mode="circular")
        self.dropout = nn.Dropout(dropout)
        self.positions = positions

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x.transpose(1, 2)).transpose(1, 2)
        if self.positions:
            h = h + positional_encoding(x.shape[1], h.shape[-1], x.device).to(h.dtype)
        return self.dropout(h)


def prob_sparse_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, factor: int, dropout_p: float
) -> torch.Tensor:
    """Informer's ProbSparse attention (Zhou et al., AAAI 2021), q/k/v [B, H, L, E] -> [B, H, Lq, E], no mask.

    The top u = factor * ceil(ln L) queries by the sparsity measure M(q) = max(q K_s) - mean(q K_s) over a
    random sample of keys attend fully; the others take the mean of V."""
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
    """Multi-head attention, [B, Lq, d] x [B, Lk, d] -> [B, Lq, d]: ``full`` (fused
    ``scaled_dot_product_attention``) or ``prob`` (:func:`prob_sparse_attention`)."""

    def __init__(self, d_model: int, n_heads: int, kind: str = "full", factor: int | None = None, dropout=0.0) -> None:
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(d_model, d_model) for _ in range(4))
        self.n_heads, self.kind, self.factor, self.dropout = n_heads, kind, factor, dropout

    def split(self, t: torch.Tensor) -> torch.Tensor:
        """[B, L, d] -> [B, H, L, E]."""
        b, length, d = t.shape
        return t.view(b, length, self.n_heads, d // self.n_heads).transpose(1, 2)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        b, lq, d = query.shape
        q, k, v = self.split(self.q(query)), self.split(self.k(key)), self.split(self.v(value))
        p = self.dropout if self.training else 0.0
        if self.kind == "prob":
            out = prob_sparse_attention(q, k, v, self.factor, p)
        else:
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        return self.o(out.transpose(1, 2).reshape(b, lq, d))


class FeedForward(nn.Module):
    """Linear d -> d_ff, GELU, Linear d_ff -> d, with dropout: [..., d] -> [..., d]."""

    def __init__(self, d_model: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model), nn.Dropout(dropout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class EncoderLayer(nn.Module):
    """Post-norm self-attention + feed-forward layer: [B, L, d] -> [B, L, d]."""

    def __init__(
        self, d_model: int, n_heads: int, d_ff: int, dropout: float, kind: str = "full", factor: int | None = None
    ) -> None:
        super().__init__()
        self.attn = AttentionLayer(d_model, n_heads, kind, factor, dropout)
        self.ff = FeedForward(d_model, d_ff, dropout)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.drop(self.attn(x, x, x)))
        return self.norm2(x + self.ff(x))


class DistilConv(nn.Module):
    """Informer's distilling layer: conv, batch norm, ELU, max-pool with stride 2: [B, L, d] -> [B, ceil(L/2), d]."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(d_model, d_model, 3, padding=1, padding_mode="circular")
        self.norm = nn.BatchNorm1d(d_model)
        self.pool = nn.MaxPool1d(3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(F.elu(self.norm(self.conv(x.transpose(1, 2))))).transpose(1, 2)


class VariateEmbedding(nn.Module):
    """Each variate's whole series as one token (Liu et al., ICLR 2024): [B, L, N] -> [B, N, d]."""

    def __init__(self, length: int, d_model: int, dropout: float) -> None:
        super().__init__()
        self.proj = nn.Linear(length, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(x.transpose(1, 2)))


class VariateHead(nn.Module):
    """Variate tokens to the output series: each token to L steps, then a linear map of the N variates to the
    n_out outputs: [B, N, d] -> [B, L, n_out]."""

    def __init__(self, d_model: int, length: int, n_variates: int, n_out: int) -> None:
        super().__init__()
        self.time = nn.Linear(d_model, length)
        self.variates = nn.Linear(n_variates, n_out)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.variates(self.time(tokens).transpose(1, 2))
