"""iTransformer (Liu et al., ICLR 2024, https://arxiv.org/abs/2310.06625): the variates are the tokens.

Each driver's whole window [L] is embedded to one token by a linear map; ``e_layers`` post-norm encoder layers
attend across the variate tokens (full attention, no positions: the variates have no order) and a feed-forward
block acts on each token. A head maps each token to L steps, then the N variates linearly to the n_out outputs
(the forecasting version predicts the input variates themselves; here the outputs are other quantities). The
drivers are z-scored already, so the per-series normalisation of the forecasting version is left out.
"""

from __future__ import annotations

from terraflux.dere.backbones.base import BackboneConfig, SequenceBackbone
from terraflux.dere.backbones.layers import EncoderLayer, VariateEmbedding, VariateHead

import torch
from torch import nn


class ITransformer(SequenceBackbone):
    def __init__(self, n_in: int, n_out: int, length: int, cfg: BackboneConfig, n_heads: int = 1) -> None:
        super().__init__()
        self.embedding = VariateEmbedding(length, cfg.d_model, cfg.dropout)
        self.layers = nn.ModuleList(
            EncoderLayer(cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.dropout) for _ in range(cfg.e_layers)
        )
        self.norm = nn.LayerNorm(cfg.d_model)
        self.heads = nn.ModuleList(VariateHead(cfg.d_model, length, n_in, n_out) for _ in range(n_heads))

    def encode(self, x: torch.Tensor, token: torch.Tensor | None = None) -> torch.Tensor:
        h = self.embedding(x)
        for layer in self.layers:
            h = layer(h)
        return self.norm(h)

    def decode(self, state: torch.Tensor, head: int) -> torch.Tensor:
        return self.heads[head](state)
