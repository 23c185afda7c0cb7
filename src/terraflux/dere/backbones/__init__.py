"""The sequence backbones of DERE and of its comparison models, one module each, and their registry.

Every backbone maps drivers [B, L, n_in] to outputs [B, L, n_out] over the same window (see
:class:`~terraflux.dere.backbones.base.SequenceBackbone`); ``build_backbone`` makes one by config name:

| name | module |
|---|---|
| ``transformer`` | :mod:`.transformer`: encoder-decoder, full attention, no distilling |
| ``informer`` | :mod:`.informer`: ProbSparse attention (or full) and distilling |
| ``fedformer`` | :mod:`.fedformer`: seasonal-trend decomposition and frequency-enhanced blocks |
| ``itransformer`` | :mod:`.itransformer`: variates as tokens |
| ``timexer`` | :mod:`.timexer`: patch tokens and a global token attending to per-driver tokens |
| ``simpletm`` | :mod:`.simpletm`: wavelet tokenisation and geometric attention |
"""

from __future__ import annotations

from terraflux.dere.backbones.base import NAMES, BackboneConfig, SequenceBackbone
from terraflux.dere.backbones.fedformer import FEDformer
from terraflux.dere.backbones.informer import Informer
from terraflux.dere.backbones.itransformer import ITransformer
from terraflux.dere.backbones.simpletm import SimpleTM
from terraflux.dere.backbones.timexer import TimeXer
from terraflux.dere.backbones.transformer import Transformer

BACKBONES: dict[str, type[SequenceBackbone]] = {
    "transformer": Transformer,
    "informer": Informer,
    "fedformer": FEDformer,
    "itransformer": ITransformer,
    "timexer": TimeXer,
    "simpletm": SimpleTM,
}
assert tuple(BACKBONES) == NAMES

__all__ = ["BACKBONES", "NAMES", "BackboneConfig", "SequenceBackbone", "build_backbone"]


def build_backbone(cfg: BackboneConfig, n_in: int, n_out: int, length: int, n_heads: int = 1) -> SequenceBackbone:
    """The backbone ``cfg.name`` for ``n_in`` drivers, ``n_out`` outputs and windows of ``length`` steps, with
    ``n_heads`` output heads on one trunk."""
    return BACKBONES[cfg.name](n_in, n_out, length, cfg, n_heads=n_heads)
