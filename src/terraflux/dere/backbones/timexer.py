"""TimeXer (Wang et al., NeurIPS 2024, https://arxiv.org/abs/2402.19072): patch tokens of the endogenous series
plus one global token, which alone attends to variate tokens of the exogenous series.

Here there is no target history in the input (the outputs are fluxes, the inputs drivers), so the endogenous
series is the drivers' joint multivariate series and the exogenous tokens are the drivers one by one:

- endogenous: the window cut into non-overlapping patches of ``patch_len`` steps (the end padded by repeating
  the last step when L is not a multiple), each patch of all drivers embedded linearly, plus sinusoidal
  positions, plus a learned global token;
- exogenous: each driver's whole window embedded to one token (as in iTransformer);
- each of ``e_layers`` layers: self-attention over patches and global token, cross-attention of the global
  token to the exogenous tokens, feed-forward (post-norm);
- head: all patch tokens and the global token flattened, a linear map to L x n_out.
"""

from __future__ import annotations

import math

from terraflux.dere.backbones.base import BackboneConfig, SequenceBackbone
from terraflux.dere.backbones.layers import AttentionLayer, FeedForward, VariateEmbedding, positional_encoding

import torch
from torch import nn


class TimeXerLayer(nn.Module):
    """tokens [B, P+1, d] (last = global) and exogenous [B, N, d] -> [B, P+1, d]."""

    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        self.self_attn = AttentionLayer(cfg.d_model, cfg.n_heads, dropout=cfg.dropout)
        self.cross_attn = AttentionLayer(cfg.d_model, cfg.n_heads, dropout=cfg.dropout)
        self.ff = FeedForward(cfg.d_model, cfg.d_ff, cfg.dropout)
        self.norms = nn.ModuleList(nn.LayerNorm(cfg.d_model) for _ in range(3))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, tokens: torch.Tensor, exogenous: torch.Tensor) -> torch.Tensor:
        tokens = self.norms[0](tokens + self.drop(self.self_attn(tokens, tokens, tokens)))
        patches, glob = tokens[:, :-1], tokens[:, -1:]
        glob = self.norms[1](glob + self.drop(self.cross_attn(glob, exogenous, exogenous)))
        tokens = torch.cat([patches, glob], 1)
        return self.norms[2](tokens + self.ff(tokens))


class GlobalToken(nn.Module):
    """A learned token [1, 1, d], expanded to the batch: [B, 1, d] (a module, so that it belongs to the trunk)."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.token = nn.Parameter(torch.randn(1, 1, d_model) * 0.02)

    def forward(self, batch: int) -> torch.Tensor:
        return self.token.expand(batch, -1, -1)


class TimeXer(SequenceBackbone):
    def __init__(self, n_in: int, n_out: int, length: int, cfg: BackboneConfig, n_heads: int = 1) -> None:
        super().__init__()
        self.patch_len = min(cfg.patch_len, length)
        self.n_patches = math.ceil(length / self.patch_len)
        self.length, self.n_out = length, n_out
        self.patch_embedding = nn.Linear(self.patch_len * n_in, cfg.d_model)
        self.global_token = GlobalToken(cfg.d_model)
        self.exogenous = VariateEmbedding(length, cfg.d_model, cfg.dropout)
        self.dropout = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(TimeXerLayer(cfg) for _ in range(cfg.e_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.heads = nn.ModuleList(
            nn.Linear((self.n_patches + 1) * cfg.d_model, length * n_out) for _ in range(n_heads)
        )

    def encode(self, x: torch.Tensor, token: torch.Tensor | None = None) -> torch.Tensor:
        b, length, n = x.shape
        pad = self.n_patches * self.patch_len - length
        padded = torch.cat([x, x[:, -1:].expand(-1, pad, -1)], 1) if pad else x
        patches = self.patch_embedding(padded.reshape(b, self.n_patches, self.patch_len * n))
        patches = patches + positional_encoding(self.n_patches, patches.shape[-1], x.device).to(patches.dtype)
        tokens = self.dropout(torch.cat([patches, self.global_token(b)], 1))
        exogenous = self.exogenous(x)
        for layer in self.layers:
            tokens = layer(tokens, exogenous)
        return self.norm(tokens)

    def decode(self, state: torch.Tensor, head: int) -> torch.Tensor:
        return self.heads[head](state.flatten(1)).view(state.shape[0], self.length, self.n_out)
