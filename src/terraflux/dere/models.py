"""DERE models built on the backbone, the physics loss, the fusion over PFT groups and age classes, and what
the models read from the dataset (one place for each).

Shapes: B batch, C cells, L months, F features (+1 age channel), V process variables, P PFT groups, A age
classes, Y years, K in-situ fluxes. "physical" means gC m-2 d-1 (or the variable's unit); "normalised" is
z-scored with the training statistics held by :class:`Scaler`.
"""

from __future__ import annotations

from terraflux.dere.backbones import BackboneConfig, SequenceBackbone, build_backbone
from terraflux.dere.backbones.informer import Informer
from terraflux.dere.dataset import DereTensors

import torch
import torch.nn.functional as F
from torch import nn

PHYSICS_TERMS = (
    ("NEE", "Rh", "NPP"),
    ("Ra", "GPP", "NPP"),
    ("RECO", "GPP", "NEE"),
)  # a - b + c for the first two, a - b - c


class Scaler(nn.Module):
    """Per-variable z-score and physical non-negativity (all variables except those in ``signed``)."""

    def __init__(
        self, mean: torch.Tensor, std: torch.Tensor, names: list[str], signed: tuple[str, ...] = ("NEE",)
    ) -> None:
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
    """Step 1a: P branches sharing the backbone's trunk (for the encoder-decoders: encoder embedding, encoder and
    decoder embedding), each with its own output head. [B, L, n_in] -> [B, P, L, V] normalised."""

    def __init__(self, n_in: int, n_out: int, n_groups: int, cfg: BackboneConfig, length: int) -> None:
        super().__init__()
        self.net = build_backbone(cfg, n_in, n_out, length, n_heads=n_groups)

    def shared(self) -> list[nn.Module]:
        return self.net.shared_modules()

    def forward(self, x: torch.Tensor, groups: list[int] | None = None) -> torch.Tensor:
        return self.net.forward_heads(x, range(len(self.net.heads)) if groups is None else groups)


class MixModel(nn.Module):
    """Step 1b/2: y = sum_p relu(branch_p(x)) * frac_p + branch0(x, frac) (physical; branch0 additive, scaled by std).

    ``forward(x, frac, pure=None)``: x [B, L, n_in], frac [B, L, P]; ``pure`` (precomputed clamped physical
    branch outputs already fused over PFTs and ages, [B, L, V]) replaces the pure part when given.
    Returns physical [B, L, V].
    """

    def __init__(self, n_in: int, n_out: int, n_groups: int, cfg: BackboneConfig, scaler: Scaler, length: int) -> None:
        super().__init__()
        self.pure = PureModel(n_in, n_out, n_groups, cfg, length)
        self.branch0 = build_backbone(cfg, n_in + n_groups, n_out, length)
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
    Output: sigmoid, normalised over groups -> [B, Y, P]. The backbone is the distilling encoder-decoder with full
    attention (the yearly sequences are short).
    """

    def __init__(
        self, n_month_features: int, n_ages: int, age_dim: int, n_groups: int, cfg: BackboneConfig, n_years: int
    ) -> None:
        super().__init__()
        self.age_embedding = nn.Embedding(n_ages, age_dim)
        self.net = Informer(n_month_features + age_dim, n_groups, n_years, cfg, n_token=n_groups)

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


class Task(nn.Module):
    """Holds the modules of one training task; frozen modules stay in eval mode (no dropout, no BN updates)."""

    def __init__(self, frozen: list[nn.Module] | None = None, **modules: nn.Module) -> None:
        super().__init__()
        for name, m in modules.items():
            self.add_module(name, m)
        self._frozen = list(frozen or [])
        freeze(*self._frozen)

    def train(self, mode: bool = True) -> Task:
        super().train(mode)
        for m in self._frozen:
            m.eval()
        return self


# ----------------------------------------------------------------------------- inputs from the dataset
def to_device(device: torch.device, *tensors: torch.Tensor) -> list[torch.Tensor]:
    return [t.to(device) for t in tensors]


def age_input(data: DereTensors, cells: torch.Tensor, ages: torch.Tensor) -> torch.Tensor:
    """Drivers plus the normalised age of the class: [B, L, F+1]."""
    return with_channels(data.x[cells], data.age_feature[ages][:, None])


def mean_age_input(data: DereTensors, cells: torch.Tensor) -> torch.Tensor:
    """Drivers plus the cell's age-weighted mean (normalised) age: [B, L, F+1]."""
    return with_channels(data.x[cells], (data.age_weight[cells] * data.age_feature).sum(1, keepdim=True))


def yearly_drivers(data: DereTensors, cells: torch.Tensor) -> torch.Tensor:
    """Each year's months of drivers stacked: [B, Y, months per year * F]."""
    x = data.x[cells]
    return x.reshape(x.shape[0], -1, data.months_per_year * x.shape[-1])


def fuse(pure: torch.Tensor, frac: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """sum_age w_age sum_p pure_p(age) * frac_p(age):
    pure [B, A, P, L, V], frac [B, A, L, P], weight [B, A] -> [B, L, V]."""
    return torch.einsum("bapLv,baLp,ba->bLv", pure, frac, weight)


def fused_process(data: DereTensors, pure: torch.Tensor, cells: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The process model's PFT fractions fused with the pure outputs [C, A, P, L, V]: fused [B, L, V] and the
    age-weighted monthly fractions [B, L, P]."""
    frac = data.monthly(data.process_fraction[cells], 2)  # (B, A, L, P)
    w = data.age_weight[cells]
    return fuse(pure[cells], frac, w), (frac * w[:, :, None, None]).sum(1)


# ----------------------------------------------------------------------------- building the models
# The PFT model attends fully over its few yearly steps (no ProbSparse sampling).
PFT_ATTENTION = {"name": "informer", "attention": "full", "factor": None}


def new_mix_model(data: DereTensors, cfg: dict) -> MixModel:
    """Steps 1-2 model for the dataset's sizes, ``cfg`` the ``dere`` config."""
    n_in = data.x.shape[-1] + 1
    return MixModel(
        n_in,
        len(data.variables),
        data.process_fraction.shape[-1],
        BackboneConfig.from_dict(cfg["backbone"]),
        process_scaler(data),
        data.x.shape[1],
    )


def new_pft_model(data: DereTensors, cfg: dict) -> PftModel:
    """Step 3 model for the dataset's sizes, ``cfg`` the ``dere`` config."""
    spec = cfg["pft_model"]
    backbone = BackboneConfig.from_dict({**spec, **PFT_ATTENTION})
    return PftModel(
        data.months_per_year * data.x.shape[-1],
        data.n_ages,
        spec["age_embedding"],
        data.esa_fraction.shape[-1],
        backbone,
        data.esa_fraction.shape[1],
    )


def comparison_backbone(cfg: dict, name: str) -> BackboneConfig:
    """The comparison models' backbone ``name``: the sizes of ``dere.backbone``; the Informer row uses
    ProbSparse attention (the comparison's Informer), whatever attention DERE's own backbone uses."""
    spec = {**cfg["backbone"], "name": name}
    if name == "informer":
        spec["attention"] = "prob"
    return BackboneConfig.from_dict(spec)


def new_backbone(data: DereTensors, spec: BackboneConfig, n_out: int) -> SequenceBackbone:
    """A backbone on the drivers plus mean age (Baseline, KGML) over the whole window with ``n_out`` outputs."""
    return build_backbone(spec, data.x.shape[-1] + 1, n_out, data.x.shape[1])


def process_scaler(data: DereTensors) -> Scaler:
    """z-score of the process variables with the training cells' statistics."""
    return Scaler(data.y_mean, data.y_std, data.variables)


def flux_scaler(data: DereTensors) -> Scaler:
    """z-score of the in-situ fluxes with the training sites' statistics."""
    return Scaler(data.insitu_mean, data.insitu_std, data.fluxes)


@torch.no_grad()
def pure_outputs(model: MixModel, data: DereTensors, device: torch.device, batch: int = 64) -> torch.Tensor:
    """Clamped physical pure-branch outputs for every cell and age class: [C, A, P, L, V] (CPU)."""
    model.to(device).eval()
    cells, ages = data.cell_age_pairs(torch.arange(data.x.shape[0]))
    outs = []
    for i in range(0, len(cells), batch):
        (x,) = to_device(device, age_input(data, cells[i : i + batch], ages[i : i + batch]))
        outs.append(model.pure_physical(x).float().cpu())
    out = torch.cat(outs)
    return out.view(data.x.shape[0], data.n_ages, *out.shape[1:])


def pft_per_age(model: PftModel, data: DereTensors, cells: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Predicted fractions per age class [B, A, Y, P] with the ESA-CCI year-0 start token (on ``device``)."""
    n_ages = data.n_ages
    x = yearly_drivers(data, cells).repeat_interleave(n_ages, 0)
    ages = torch.arange(n_ages).repeat(len(cells))
    token = data.esa_fraction[cells, 0].repeat_interleave(n_ages, 0)
    x, ages, token = to_device(device, x, ages, token)
    out = model(x, ages, token)
    return out.view(len(cells), n_ages, *out.shape[1:])


class FluxModel(nn.Module):
    """Step 4/6 model: PFT model -> per-age fractions (monthly), fused with precomputed pure outputs
    [C, A, P, L, V] and age weights, plus the competition branch. ``forward(cells)`` -> physical [B, L, V]."""

    def __init__(
        self, data: DereTensors, mix: MixModel, pft: PftModel, pure: torch.Tensor, device: torch.device
    ) -> None:
        super().__init__()
        self.mix, self.pft = mix, pft
        self.data, self.pure, self.device = data, pure, device

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        d = self.data
        frac = d.monthly(pft_per_age(self.pft, d, cells, self.device), 2)  # (B, A, L, P)
        pure, w, x = to_device(self.device, self.pure[cells], d.age_weight[cells], mean_age_input(d, cells))
        fused = fuse(pure, frac, w)
        return self.mix.scaler.clamp(self.mix(x, (frac * w[:, :, None, None]).sum(1), pure=fused))


def load_flux_model(
    data: DereTensors, cfg: dict, device: torch.device, mix_state: dict, pft_state: dict, pure: torch.Tensor
) -> FluxModel:
    """A :class:`FluxModel` from a step-2 (or step 4/6) mix state and a step-3b (or step 4/6) PFT state."""
    mix = new_mix_model(data, cfg)
    mix.load_state_dict(mix_state)
    pft = new_pft_model(data, cfg)
    pft.load_state_dict(pft_state)
    return FluxModel(data, mix, pft, pure, device)
