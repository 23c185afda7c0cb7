"""What every sequence backbone shares: its config and its interface.

A backbone maps drivers [B, L, n_in] to outputs [B, L, n_out] over one window (sequence-to-sequence regression,
not forecasting). It is split into a trunk (``encode``: everything but the output heads) and ``n_heads``
output heads (``decode``) that share the trunk, so that DERE's pure-PFT branches can share one encoder
(``shared_modules``) and own one head each.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Any

import torch
from torch import nn

NAMES = ("transformer", "informer", "fedformer", "itransformer", "timexer", "simpletm")


# The keys each backbone reads beyond the shared sizes (the encoder-decoders read attention, factor).
SPECIFIC_KEYS = {
    "transformer": (),
    "informer": (),
    "fedformer": ("moving_avg", "modes"),
    "itransformer": (),
    "timexer": ("patch_len",),
    "simpletm": ("wavelet", "wavelet_levels", "geometric_weight"),
}


@dataclass(frozen=True)
class BackboneConfig:
    """Sizes of a backbone, all from the config (``dere.backbone``, ``dere.pft_model``).

    Shared by all: ``name``, ``d_model``, ``n_heads`` (attention heads), ``e_layers``, ``d_layers`` (decoder
    layers of the encoder-decoders), ``d_ff``, ``dropout``, ``attention`` (``full``/``prob``: Informer's
    self-attention) and ``factor`` (ProbSparse's sampling factor c; None with full attention). Read by one
    backbone each (:data:`SPECIFIC_KEYS`; None when that backbone is not the one built): ``moving_avg`` (odd
    window of the trend's moving average, steps) and ``modes`` (Fourier modes kept) for FEDformer;
    ``patch_len`` (steps per patch) for TimeXer; ``wavelet`` (a PyWavelets orthogonal wavelet),
    ``wavelet_levels`` and ``geometric_weight`` (share of the wedge term in the attention score) for SimpleTM.
    """

    name: str
    d_model: int
    n_heads: int
    e_layers: int
    d_layers: int
    d_ff: int
    dropout: float
    attention: str
    factor: int | None
    moving_avg: int | None = None
    modes: int | None = None
    patch_len: int | None = None
    wavelet: str | None = None
    wavelet_levels: int | None = None
    geometric_weight: float | None = None

    def __post_init__(self) -> None:
        if self.name not in NAMES:
            raise ValueError(f"backbone name must be one of {NAMES}, not {self.name!r} (config dere.backbone.name)")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} must be a multiple of n_heads {self.n_heads}")
        if self.attention not in ("full", "prob"):
            raise ValueError(f"attention must be 'full' or 'prob', not {self.attention!r}")
        if self.attention == "prob" and not self.factor:
            raise ValueError("ProbSparse attention needs its sampling factor (config key `factor`)")
        missing = [k for k in SPECIFIC_KEYS[self.name] if getattr(self, k) is None]
        if missing:
            raise ValueError(f"backbone {self.name!r} needs the config keys {missing}")
        if self.moving_avg is not None and self.moving_avg % 2 == 0:
            raise ValueError(f"moving_avg must be odd (a centred window), not {self.moving_avg}")

    @classmethod
    def from_dict(cls, spec: dict) -> BackboneConfig:
        """The shared fields (a KeyError names the first one missing) and those of backbone ``spec['name']`` from
        a config section; other keys are ignored."""
        shared = [f.name for f in fields(cls) if f.default is MISSING]
        names = shared + list(SPECIFIC_KEYS.get(spec["name"], ()))
        return cls(**{name: spec[name] for name in names})


class SequenceBackbone(nn.Module):
    """[B, L, n_in] -> [B, L, n_out] with ``n_heads`` output heads on one trunk.

    Subclasses set ``self.heads`` (an ``nn.ModuleList``) and implement ``encode(x, token)`` (any state) and
    ``decode(state, head)``. ``token`` is an optional start token [B, n_token] that only the encoder-decoders
    read (the others ignore it).
    """

    heads: nn.ModuleList

    def encode(self, x: torch.Tensor, token: torch.Tensor | None = None) -> Any:
        raise NotImplementedError

    def decode(self, state: Any, head: int) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, token: torch.Tensor | None = None, head: int = 0) -> torch.Tensor:
        return self.decode(self.encode(x, token), head)

    def forward_heads(self, x: torch.Tensor, heads: list[int] | range) -> torch.Tensor:
        """The trunk once, then each head: [B, len(heads), L, n_out]."""
        state = self.encode(x)
        return torch.stack([self.decode(state, h) for h in heads], 1)

    def shared_modules(self) -> list[nn.Module]:
        """Every child module but the heads (the trunk; subclasses hold no parameter outside a child module)."""
        return [m for name, m in self.named_children() if name != "heads"]
