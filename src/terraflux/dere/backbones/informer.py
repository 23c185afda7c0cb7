"""Informer (Zhou et al., AAAI 2021, https://arxiv.org/abs/2012.07436): the encoder-decoder of
:mod:`.transformer` with ProbSparse self-attention (:func:`~.layers.prob_sparse_attention`) and a distilling
convolution (conv, batch norm, ELU, stride-2 max-pool) between consecutive encoder layers, without calendar
embeddings. ``attention: full`` keeps the distilling encoder with full attention (DERE's own backbone);
cross-attention is always full.
"""

from __future__ import annotations

from terraflux.dere.backbones.base import BackboneConfig
from terraflux.dere.backbones.transformer import Transformer


class Informer(Transformer):
    distil = True

    def attention_kind(self, cfg: BackboneConfig) -> str:
        return cfg.attention
