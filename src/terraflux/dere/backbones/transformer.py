"""Transformer: the vanilla encoder-decoder (Vaswani et al., NeurIPS 2017) with full attention and no
distilling, as the time-series libraries run it for sequence-to-sequence regression over one window.

The encoder embeds x (circular conv token embedding + sinusoidal positions) and runs ``e_layers`` self-attention
layers; the decoder input is a start token (by default the first step of x; any [B, n_token] may be given)
followed by L zeros, embedded, through ``d_layers`` layers of self-attention and cross-attention to the encoder
memory; the last L positions are projected to n_out. Each output head is one decoder with its projection.
Informer (:mod:`.informer`) is this model with ProbSparse attention and distilling between encoder layers.
"""

from __future__ import annotations

from terraflux.dere.backbones.base import BackboneConfig, SequenceBackbone
from terraflux.dere.backbones.layers import AttentionLayer, DistilConv, EncoderLayer, FeedForward, TokenEmbedding

import torch
from torch import nn


class Encoder(nn.Module):
    """``e_layers`` encoder layers (self-attention ``kind``), with a distilling convolution between consecutive
    layers when ``distil`` (each halves the length), then LayerNorm: [B, L, d] -> [B, L', d]."""

    def __init__(self, cfg: BackboneConfig, kind: str, distil: bool) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            EncoderLayer(cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.dropout, kind, cfg.factor) for _ in range(cfg.e_layers)
        )
        self.distil = nn.ModuleList(DistilConv(cfg.d_model) for _ in range(cfg.e_layers - 1 if distil else 0))
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.distil):
                x = self.distil[i](x)
        return self.norm(x)


class DecoderLayer(nn.Module):
    def __init__(self, cfg: BackboneConfig, kind: str) -> None:
        super().__init__()
        self.self_attn = AttentionLayer(cfg.d_model, cfg.n_heads, kind, cfg.factor, cfg.dropout)
        self.cross_attn = AttentionLayer(cfg.d_model, cfg.n_heads, "full", cfg.factor, cfg.dropout)
        self.ff = FeedForward(cfg.d_model, cfg.d_ff, cfg.dropout)
        self.norms = nn.ModuleList(nn.LayerNorm(cfg.d_model) for _ in range(3))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        x = self.norms[0](x + self.drop(self.self_attn(x, x, x)))
        x = self.norms[1](x + self.drop(self.cross_attn(x, memory, memory)))
        return self.norms[2](x + self.ff(x))


class Decoder(nn.Module):
    """Decoder layers and a projection to n_out: [B, 1+L, d] with memory [B, L', d] -> [B, L, n_out]."""

    def __init__(self, cfg: BackboneConfig, n_out: int, kind: str) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(cfg, kind) for _ in range(cfg.d_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.projection = nn.Linear(cfg.d_model, n_out)

    def forward(self, h: torch.Tensor, memory: torch.Tensor, length: int) -> torch.Tensor:
        for layer in self.layers:
            h = layer(h, memory)
        return self.projection(self.norm(h))[:, -length:]


class Transformer(SequenceBackbone):
    """Encoder-decoder; ``n_token`` is the width of the decoder's start token (default n_in)."""

    attention = "full"
    distil = False

    def __init__(
        self, n_in: int, n_out: int, length: int, cfg: BackboneConfig, n_heads: int = 1, n_token: int | None = None
    ) -> None:
        super().__init__()
        kind = self.attention_kind(cfg)
        self.enc_embedding = TokenEmbedding(n_in, cfg.d_model, cfg.dropout)
        self.encoder = Encoder(cfg, kind, self.distil)
        self.n_token = n_token or n_in
        self.dec_embedding = TokenEmbedding(self.n_token, cfg.d_model, cfg.dropout)
        self.heads = nn.ModuleList(Decoder(cfg, n_out, kind) for _ in range(n_heads))

    def attention_kind(self, cfg: BackboneConfig) -> str:
        return self.attention

    def encode(self, x: torch.Tensor, token: torch.Tensor | None = None) -> tuple:
        token = x[:, :1] if token is None else token.reshape(x.shape[0], 1, -1)
        zeros = token.new_zeros(x.shape[0], x.shape[1], token.shape[-1])
        return self.dec_embedding(torch.cat([token, zeros], 1)), self.encoder(self.enc_embedding(x)), x.shape[1]

    def decode(self, state: tuple, head: int) -> torch.Tensor:
        h, memory, length = state
        return self.heads[head](h, memory, length)
