"""DERE models built on the backbone, the physics loss and the fusion (one place for each).

Shapes: B batch, L months, F features (+1 age channel), V process variables, P PFT groups, A age classes,
Y years, K in-situ fluxes. "physical" means gC m-2 d-1 (or the variable's unit); "normalised" is z-scored
with the training statistics held by :class:`Scaler`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from terraflux.dere.backbone import Backbone, BackboneConfig, Decoder, Encoder, TokenEmbedding

PHYSICS_TERMS = (("NEE", "Rh", "NPP"), ("Ra", "GPP", "NPP"), ("RECO", "GPP", "NEE"))  # a - b + c for the first two, a - b - c


class Scaler(nn.Module):
    """Per-variable z-score and physical non-negativity (all variables except those in ``signed``)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, names: list[str], signed: tuple[str, ...] = ("NEE",)) -> None:
        super().__init__()
        self.register_buffer("mean", mean.float().clone())
        self.register_buffer("std", std.float().clone())
        self.register_buffer("nonneg", torch.tensor([n not in signed for n in names]))
        self.names = list(names)

    def to_physical(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std + self.mean

    def to_normal(self, y: torch.Tensor) -> torch.Tensor:
        return (y - self.mean) / self.std

    def clamp(self, y: torch.Tensor) -> torch.Tensor:
        """relu on non-negative variables, in physical units (last dim = variables)."""
        return torch.where(self.nonneg, F.relu(y), y)


def physics_residuals(y: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
    """Residuals of NEE = Rh - NPP, NPP = GPP - Ra, RECO = GPP + NEE in physical units (last dim = variables)."""
    i = {n: names.index(n) for n in names}
    g = lambda n: y[..., i[n]]  # noqa: E731
    return {
        "NEE-Rh+NPP": g("NEE") - g("Rh") + g("NPP"),
        "Ra-GPP+NPP": g("Ra") - g("GPP") + g("NPP"),
        "RECO-GPP-NEE": g("RECO") - g("GPP") - g("NEE"),
    }


def physics_loss(pred: torch.Tensor, target: torch.Tensor, scaler: Scaler, weight: float) -> torch.Tensor:
    """MSE of normalised values + ``weight`` x mean squared physics residual (each identity), physical units."""
    mse = F.mse_loss(scaler.to_normal(pred), scaler.to_normal(target))
    if weight == 0:
        return mse
    return mse + weight * sum(r.pow(2).mean() for r in physics_residuals(pred, scaler.names).values())


def masked_mse(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error over finite targets only (gaps excluded from numerator and denominator)."""
    mask = torch.isfinite(target)
    if weight is not None:
        mask = mask & (weight > 0)
    if not mask.any():
        return pred.sum() * 0.0
    err = (pred - torch.nan_to_num(target)).pow(2)
    w = mask.float() if weight is None else mask.float() * weight
    return (err * w).sum() / mask.float().sum()


def with_channels(x: torch.Tensor, *extra: torch.Tensor) -> torch.Tensor:
    """Append per-sample channels to [B, L, F]: each extra is [B, C] (constant in time) or [B, L, C]."""
    parts = [x]
    for e in extra:
        parts.append(e[:, None, :].expand(-1, x.shape[1], -1) if e.dim() == 2 else e)
    return torch.cat(parts, -1)


class PureModel(nn.Module):
    """Step 1a: P branches sharing the encoder embedding, encoder and decoder embedding; own decoder and
    projection each. [B, L, n_in] -> [B, P, L, V] normalised."""

    def __init__(self, n_in: int, n_out: int, n_groups: int, cfg: BackboneConfig) -> None:
        super().__init__()
        self.enc_embedding = TokenEmbedding(n_in, cfg.d_model, cfg.dropout)
        self.encoder = Encoder(cfg)
        self.dec_embedding = TokenEmbedding(n_in, cfg.d_model, cfg.dropout)
        self.decoders = nn.ModuleList(Decoder(cfg, n_out) for _ in range(n_groups))

    def shared(self) -> list[nn.Module]:
        return [self.enc_embedding, self.encoder, self.dec_embedding]

    def forward(self, x: torch.Tensor, groups: list[int] | None = None) -> torch.Tensor:
        memory = self.encoder(self.enc_embedding(x))
        token = x[:, :1]
        h = self.dec_embedding(torch.cat([token, token.new_zeros(x.shape[0], x.shape[1], x.shape[2])], 1))
        idx = range(len(self.decoders)) if groups is None else groups
        return torch.stack([self.decoders[g](h, memory, x.shape[1]) for g in idx], 1)


class MixModel(nn.Module):
    """Step 1b/2: y = sum_p relu(branch_p(x)) * frac_p + branch0(x, frac) (physical; branch0 additive, scaled by std).

    ``forward(x, frac, pure=None)``: x [B, L, n_in], frac [B, L, P]; ``pure`` (precomputed clamped physical
    branch outputs already fused over PFTs and ages, [B, L, V]) replaces the pure part when given.
    Returns physical [B, L, V].
    """

    def __init__(self, n_in: int, n_out: int, n_groups: int, cfg: BackboneConfig, scaler: Scaler) -> None:
        super().__init__()
        self.pure = PureModel(n_in, n_out, n_groups, cfg)
        self.branch0 = Backbone(n_in + n_groups, n_out, cfg)
        self.scaler = scaler

    def pure_physical(self, x: torch.Tensor) -> torch.Tensor:
        """Clamped physical branch outputs [B, P, L, V]."""
        return self.scaler.clamp(self.scaler.to_physical(self.pure(x)))

    def forward(self, x: torch.Tensor, frac: torch.Tensor, pure: torch.Tensor | None = None) -> torch.Tensor:
        if pure is None:
            pure = (self.pure_physical(x) * frac.permute(0, 2, 1)[..., None]).sum(1)
        return pure + self.branch0(with_channels(x, frac)) * self.scaler.std


class PftModel(nn.Module):
    """Step 3: per (cell, age class) yearly sequence -> PFT fractions per year.

    Input per year: the year's months of drivers stacked [B, Y, m*F] and an age-class embedding; the decoder
    start token is a fraction vector [B, P] (process year 0 in stage a, ESA-CCI year 0 in stage b).
    Output: sigmoid, normalised over groups -> [B, Y, P].
    """

    def __init__(self, n_month_features: int, n_ages: int, age_dim: int, n_groups: int, cfg: BackboneConfig) -> None:
        super().__init__()
        self.age_embedding = nn.Embedding(n_ages, age_dim)
        self.net = Backbone(n_month_features + age_dim, n_groups, cfg, n_token=n_groups)

    def encoder_modules(self) -> list[nn.Module]:
        return [self.net.enc_embedding, self.net.encoder]

    def forward(self, x_year: torch.Tensor, age: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
        h = with_channels(x_year, self.age_embedding(age))
        s = torch.sigmoid(self.net(h, token))
        return s / s.sum(-1, keepdim=True).clamp_min(1e-6)


class WeightNet(nn.Module):
    """Step 6: w = sigmoid(MLP([prediction, std])) per point (normalised inputs), [..., 2] -> [...]."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, hidden), nn.GELU(), nn.Linear(hidden, 1))
        nn.init.constant_(self.net[-1].bias, 2.0)  # start near w = 0.88: imputed labels count from the start

    def forward(self, pred: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(torch.stack([pred, std], -1))).squeeze(-1)


def freeze(*modules: nn.Module) -> None:
    """Freeze whole modules (by object, never by parameter name) and put them in eval mode for dropout/BN."""
    for m in modules:
        for p in m.parameters():
            p.requires_grad_(False)


def trainable(*modules: nn.Module) -> list[nn.Parameter]:
    return [p for m in modules for p in m.parameters() if p.requires_grad]
