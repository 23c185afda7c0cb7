"""The DERE stages as functions: each trains with the shared engine and returns states, predictions, metrics.

Every function takes the dataset tensors (:class:`~terraflux.dere.dataset.DereTensors`), the ``dere`` config
dict (validated by the schema: no silent defaults here), and a :class:`Context` (device, seed, folder for
resume checkpoints, fingerprint of the stage's params). Sizes all come from the data and the config.

Samples: steps 1 and 3a use (cell, age class) pairs of training cells; step 2 and 3b use cells; steps 4 and
6, Baseline and KGML fine-tuning use in-situ sites (their matched cell's drivers); validation always uses the
``val`` split and test scores the ``test`` split, which no stage trains on.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from terraflux.dere.backbone import Backbone, BackboneConfig
from terraflux.dere.dataset import DereTensors
from terraflux.dere.metrics import residual_summary, site_scores
from terraflux.dere.models import (
    MixModel,
    PftModel,
    Scaler,
    WeightNet,
    freeze,
    masked_mse,
    physics_loss,
    physics_residuals,
    trainable,
    with_channels,
)
from terraflux.errors import DataError
from terraflux.train import DeviceInfo, Engine, FitResult, TrainConfig, derive_seed, make_generator
from terraflux.train.launch import Distributed

LOG = logging.getLogger(__name__)


@dataclass
class Context:
    device: DeviceInfo
    seed: int
    resume_dir: Path
    fingerprint: str
    dist: Distributed = field(default_factory=Distributed)  # data-parallel processes (the engine splits each batch)


class Task(nn.Module):
    """Holds the modules of one training task; frozen modules stay in eval mode (no dropout, no BN updates)."""

    def __init__(self, frozen: list[nn.Module] | None = None, **modules: nn.Module) -> None:
        super().__init__()
        for name, m in modules.items():
            self.add_module(name, m)
        self._frozen = list(frozen or [])
        freeze(*self._frozen)

    def train(self, mode: bool = True) -> "Task":
        super().train(mode)
        for m in self._frozen:
            m.eval()
        return self


# ----------------------------------------------------------------------------- config helpers
def backbone_config(spec: dict) -> BackboneConfig:
    return BackboneConfig(
        d_model=spec["d_model"], n_heads=spec["n_heads"], e_layers=spec["e_layers"], d_layers=spec["d_layers"],
        d_ff=spec["d_ff"], dropout=spec["dropout"], attention=spec.get("attention", "full"), factor=spec.get("factor", 5),
    )


def _fit(model: nn.Module, params: list[nn.Parameter], cfg: dict, epochs: int, ctx: Context, name: str,
         batches: Callable[[int], Any], step: Callable, validate: Callable) -> FitResult:
    train = cfg["train"]
    optimizer = torch.optim.Adam(params, lr=train["lr"])
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=train["lr_decay"])
    engine = Engine(
        model, optimizer,
        TrainConfig(max_epochs=epochs, patience=train["patience"], grad_clip=train["grad_clip"], checkpoint_every=train["checkpoint_every"],
                    max_steps_per_epoch=train["max_steps_per_epoch"]),
        resume_path=ctx.resume_dir / f"{name}.pt", scheduler=scheduler, device=ctx.device, fingerprint=ctx.fingerprint, dist=ctx.dist,
    )
    result = engine.fit(batches, step, validate)
    LOG.info("%s: best val %.5g at epoch %d after %d steps (%.1f s)", name, result.best_val, result.best_epoch, result.steps, result.seconds)
    return result


def index_batches(n: int, batch: int, seed: int, *names: object) -> list[torch.Tensor]:
    """Shuffled index batches, a pure function of (seed, names)."""
    order = torch.randperm(n, generator=make_generator(derive_seed(seed, *names)))
    return list(order.split(batch))


def _scaler(data: DereTensors) -> Scaler:
    return Scaler(data.y_mean, data.y_std, data.variables)


def _flux_scaler(data: DereTensors) -> Scaler:
    return Scaler(data.insitu_mean, data.insitu_std, data.fluxes)


def _age_input(data: DereTensors, cells: torch.Tensor, ages: torch.Tensor) -> torch.Tensor:
    """Drivers plus the normalised age of the class: [B, L, F+1]."""
    return with_channels(data.x[cells], data.age_feature[ages][:, None])


def _mean_age_input(data: DereTensors, cells: torch.Tensor) -> torch.Tensor:
    """Drivers plus the cell's age-weighted mean (normalised) age: [B, L, F+1]."""
    return with_channels(data.x[cells], (data.age_weight[cells] * data.age_feature).sum(1, keepdim=True))


def _pairs(cells: torch.Tensor, n_ages: int) -> tuple[torch.Tensor, torch.Tensor]:
    return cells.repeat_interleave(n_ages), torch.arange(n_ages).repeat(len(cells))


def pure_cells(data: DereTensors, split: str, threshold: float, min_cells: int) -> list[torch.Tensor]:
    """Cells of each PFT group whose mean ESA-CCI fraction >= threshold; at least ``min_cells`` (the most
    dominated cells of that group) so that every branch has training data in small regions."""
    groups = data.ds["pft_group"].values.tolist()
    frac = data.esa_fraction.mean(1)  # (C, P)
    cells = data.cells(split)
    out = []
    for g, name in enumerate(groups):
        share = frac[cells, g]
        chosen = cells[share >= threshold]
        if len(chosen) < min_cells:
            k = min(min_cells, len(cells))
            chosen = cells[share.topk(k).indices]
            LOG.warning("only %d %s cells of split %s reach pure_threshold %.2f: using the %d most %s-dominated cells", int((share >= threshold).sum()), name, split, threshold, k, name)
        out.append(chosen.sort().values)
    return out


def _dev(ctx: Context, *tensors: torch.Tensor) -> list[torch.Tensor]:
    return [t.to(ctx.device.device) for t in tensors]


# ----------------------------------------------------------------------------- step 1
def new_mix_model(data: DereTensors, cfg: dict) -> MixModel:
    n_in = data.x.shape[-1] + 1
    return MixModel(n_in, len(data.variables), data.process_fraction.shape[-1], backbone_config(cfg["backbone"]), _scaler(data))


def step1_pure(data: DereTensors, cfg: dict, ctx: Context) -> tuple[MixModel, FitResult]:
    """Pure branches: each iteration one batch of pure-BL, pure-NL, pure-GS (cell, age) samples; mean physics loss."""
    ds = cfg["dataset"]
    model = new_mix_model(data, cfg)
    task = Task(frozen=[model.branch0], mix=model)
    n_ages, batch, w = data.age_weight.shape[1], cfg["train"]["batch_size"], cfg["train"]["physics_weight"]
    groups = [_pairs(c, n_ages) for c in pure_cells(data, "train", ds["pure_threshold"], ds["min_pure_cells"])]
    val_groups = [_pairs(c, n_ages) for c in pure_cells(data, "val", ds["pure_threshold"], ds["min_pure_cells"])]

    def batches(epoch: int) -> list:
        per_group = [index_batches(len(c), batch, ctx.seed, "pure", g, epoch) for g, (c, _) in enumerate(groups)]
        n = max(len(b) for b in per_group)
        return [[(groups[g][0][b[i % len(b)]], groups[g][1][b[i % len(b)]]) for g, b in enumerate(per_group)] for i in range(n)]

    def group_loss(m: Task, g: int, cells: torch.Tensor, ages: torch.Tensor) -> torch.Tensor:
        x, y = _dev(ctx, _age_input(data, cells, ages), data.y[cells, ages])
        pred = m.mix.scaler.clamp(m.mix.scaler.to_physical(m.mix.pure(x, [g])[:, 0]))
        return physics_loss(pred, y, m.mix.scaler, w)

    def step(m: Task, parts: list) -> torch.Tensor:
        return sum(group_loss(m, g, c, a) for g, (c, a) in enumerate(parts)) / len(parts)

    def validate(m: Task) -> float:
        return float(np.mean([float(group_loss(m, g, c, a)) for g, (c, a) in enumerate(val_groups) if len(c)]))

    result = _fit(task, trainable(task), cfg, cfg["epochs"]["step1_pure"], ctx, "step1_pure", batches, step, validate)
    return model, result


def _cell_age_loss(data: DereTensors, cfg: dict, ctx: Context, model: MixModel, cells: torch.Tensor, ages: torch.Tensor) -> torch.Tensor:
    frac = data.monthly(data.process_fraction[cells, ages], 1)  # (B, L, P)
    x, f, y = _dev(ctx, _age_input(data, cells, ages), frac, data.y[cells, ages])
    return physics_loss(model.scaler.clamp(model(x, f)), y, model.scaler, cfg["train"]["physics_weight"])


def step1_mix(data: DereTensors, cfg: dict, ctx: Context, pure_state: dict) -> tuple[MixModel, FitResult]:
    """Shared embedding+encoder frozen; branch decoders and the competition branch train on all (cell, age)."""
    model = new_mix_model(data, cfg)
    model.load_state_dict(pure_state)
    task = Task(frozen=model.pure.shared(), mix=model)
    n_ages = data.age_weight.shape[1]
    cells, ages = _pairs(data.cells("train"), n_ages)
    vcells, vages = _pairs(data.cells("val"), n_ages)
    batch = cfg["train"]["batch_size"]
    batches = lambda epoch: [(cells[b], ages[b]) for b in index_batches(len(cells), batch, ctx.seed, "mix", epoch)]  # noqa: E731
    step = lambda m, b: _cell_age_loss(data, cfg, ctx, m.mix, *b)  # noqa: E731
    validate = lambda m: float(_cell_age_loss(data, cfg, ctx, m.mix, vcells, vages))  # noqa: E731
    result = _fit(task, trainable(task), cfg, cfg["epochs"]["step1_mix"], ctx, "step1_mix", batches, step, validate)
    return model, result


# ----------------------------------------------------------------------------- step 2
@torch.no_grad()
def pure_outputs(data: DereTensors, model: MixModel, ctx: Context, batch: int = 64) -> torch.Tensor:
    """Clamped physical pure-branch outputs for every cell and age class: [C, A, P, L, V] (CPU)."""
    model.to(ctx.device.device).eval()
    n_ages = data.age_weight.shape[1]
    cells, ages = _pairs(torch.arange(data.x.shape[0]), n_ages)
    outs = []
    for i in range(0, len(cells), batch):
        (x,) = _dev(ctx, _age_input(data, cells[i : i + batch], ages[i : i + batch]))
        outs.append(model.pure_physical(x).float().cpu())
    out = torch.cat(outs)
    return out.view(data.x.shape[0], n_ages, *out.shape[1:])


def fuse(pure: torch.Tensor, frac: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """sum_age w_age sum_p pure_p(age) * frac_p(age): pure [B, A, P, L, V], frac [B, A, L, P], weight [B, A] -> [B, L, V]."""
    return torch.einsum("bapLv,baLp,ba->bLv", pure, frac, weight)


def _fused_process(data: DereTensors, pure: torch.Tensor, cells: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    frac = data.monthly(data.process_fraction[cells], 2)  # (B, A, L, P)
    w = data.age_weight[cells]
    return fuse(pure[cells], frac, w), (frac * w[:, :, None, None]).sum(1)


def _age_weighted_target(data: DereTensors, cells: torch.Tensor) -> torch.Tensor:
    return (data.y[cells] * data.age_weight[cells][:, :, None, None]).sum(1)


def step2(data: DereTensors, cfg: dict, ctx: Context, mix_state: dict) -> tuple[MixModel, torch.Tensor, FitResult]:
    """Only the competition branch trains: fused per-age pure outputs + branch0(x, age-summed fractions)."""
    model = new_mix_model(data, cfg)
    model.load_state_dict(mix_state)
    task = Task(frozen=[model.pure], mix=model)
    pure = pure_outputs(data, model, ctx)

    def loss(m: Task, cells: torch.Tensor) -> torch.Tensor:
        fused, frac = _fused_process(data, pure, cells)
        x, fused, frac, y = _dev(ctx, _mean_age_input(data, cells), fused, frac, _age_weighted_target(data, cells))
        return physics_loss(m.mix.scaler.clamp(m.mix(x, frac, pure=fused)), y, m.mix.scaler, cfg["train"]["physics_weight"])

    cells, vcells = data.cells("train"), data.cells("val")
    batches = lambda epoch: [cells[b] for b in index_batches(len(cells), cfg["train"]["batch_size"], ctx.seed, "step2", epoch)]  # noqa: E731
    result = _fit(task, trainable(task), cfg, cfg["epochs"]["step2"], ctx, "step2", batches, loss, lambda m: float(loss(m, vcells)))
    return model, pure, result


# ----------------------------------------------------------------------------- step 3
def new_pft_model(data: DereTensors, cfg: dict) -> PftModel:
    spec = cfg["pft_model"]
    return PftModel(data.months_per_year * data.x.shape[-1], data.age_weight.shape[1], spec["age_embedding"], data.esa_fraction.shape[-1], backbone_config(spec))


def _yearly(data: DereTensors, cells: torch.Tensor) -> torch.Tensor:
    x = data.x[cells]
    return x.reshape(x.shape[0], -1, data.months_per_year * x.shape[-1])


def step3a(data: DereTensors, cfg: dict, ctx: Context) -> tuple[PftModel, FitResult]:
    """PFT model fits the process model's per-age fractions (MSE)."""
    model = new_pft_model(data, cfg)
    task = Task(pft=model)
    n_ages = data.age_weight.shape[1]

    def loss(m: Task, b: tuple) -> torch.Tensor:
        cells, ages = b
        target = data.process_fraction[cells, ages]
        x, a, tok, target = _dev(ctx, _yearly(data, cells), ages, target[:, 0], target)
        return torch.nn.functional.mse_loss(m.pft(x, a, tok), target)

    cells, ages = _pairs(data.cells("train"), n_ages)
    val = _pairs(data.cells("val"), n_ages)
    batches = lambda epoch: [(cells[b], ages[b]) for b in index_batches(len(cells), cfg["train"]["batch_size"], ctx.seed, "pft_a", epoch)]  # noqa: E731
    result = _fit(task, trainable(task), cfg, cfg["epochs"]["step3a"], ctx, "step3a", batches, loss, lambda m: float(loss(m, val)))
    return model, result


def pft_per_age(model: PftModel, data: DereTensors, cells: torch.Tensor, ctx: Context) -> torch.Tensor:
    """Predicted fractions per age class [B, A, Y, P] with the ESA-CCI year-0 start token (device tensors)."""
    n_ages = data.age_weight.shape[1]
    x = _yearly(data, cells).repeat_interleave(n_ages, 0)
    ages = torch.arange(n_ages).repeat(len(cells))
    token = data.esa_fraction[cells, 0].repeat_interleave(n_ages, 0)
    x, ages, token = _dev(ctx, x, ages, token)
    out = model(x, ages, token)
    return out.view(len(cells), n_ages, *out.shape[1:])


def step3b(data: DereTensors, cfg: dict, ctx: Context, state: dict) -> tuple[PftModel, FitResult]:
    """Encoder frozen; MSE(sum_age w_age frac_age, ESA-CCI fractions)."""
    model = new_pft_model(data, cfg)
    model.load_state_dict(state)
    task = Task(frozen=model.encoder_modules(), pft=model)

    def loss(m: Task, cells: torch.Tensor) -> torch.Tensor:
        frac = pft_per_age(m.pft, data, cells, ctx)
        w, esa = _dev(ctx, data.age_weight[cells], data.esa_fraction[cells])
        return torch.nn.functional.mse_loss((frac * w[:, :, None, None]).sum(1), esa)

    cells, vcells = data.cells("train"), data.cells("val")
    batches = lambda epoch: [cells[b] for b in index_batches(len(cells), cfg["train"]["batch_size"], ctx.seed, "pft_b", epoch)]  # noqa: E731
    result = _fit(task, trainable(task), cfg, cfg["epochs"]["step3b"], ctx, "step3b", batches, loss, lambda m: float(loss(m, vcells)))
    return model, result


# ----------------------------------------------------------------------------- steps 4 and 6
class FluxModel(nn.Module):
    """Step 4/6 model: PFT model -> per-age fractions (monthly), fused with precomputed pure outputs and age
    weights, plus the competition branch. ``forward(cells)`` -> physical [B, L, V]."""

    def __init__(self, data: DereTensors, mix: MixModel, pft: PftModel, pure: torch.Tensor, ctx: Context) -> None:
        super().__init__()
        self.mix, self.pft = mix, pft
        self.data, self.pure, self.ctx = data, pure, ctx

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        d = self.data
        frac = d.monthly(pft_per_age(self.pft, d, cells, self.ctx), 2)  # (B, A, L, P)
        pure, w, x = _dev(self.ctx, self.pure[cells], d.age_weight[cells], _mean_age_input(d, cells))
        fused = fuse(pure, frac, w)
        return self.mix.scaler.clamp(self.mix(x, (frac * w[:, :, None, None]).sum(1), pure=fused))


def _site_fluxes(model: nn.Module, data: DereTensors, sites: torch.Tensor, forward: Callable) -> torch.Tensor:
    return forward(model, data.site_cell[sites])


def _in_situ_fit(data: DereTensors, cfg: dict, ctx: Context, task: Task, forward: Callable, network: str, name: str, epochs: int,
                 extra_loss: Callable | None = None) -> FitResult:
    """Masked MSE (normalised with in-situ statistics) on the network's training sites; val on its val sites."""
    fs = _flux_scaler(data).to(ctx.device.device)
    train_sites = data.sites("train", network)
    val_sites = data.sites("val", network)
    if len(val_sites) == 0:
        val_sites = data.sites("val")
    if len(train_sites) == 0:
        raise DataError(f"network {network!r} has no training site")

    def loss(m: Task, sites: torch.Tensor) -> torch.Tensor:
        pred = forward(m, data.site_cell[sites])
        (obs,) = _dev(ctx, data.insitu[sites])
        base = masked_mse(fs.to_normal(pred), fs.to_normal(obs))
        if extra_loss is not None and m.training:
            return extra_loss(m, sites, pred, base)
        return base

    batches = lambda epoch: [train_sites[b] for b in index_batches(len(train_sites), cfg["train"]["batch_size"], ctx.seed, name, epoch)]  # noqa: E731
    return _fit(task, trainable(task), cfg, epochs, ctx, name, batches, loss, lambda m: float(loss(m, val_sites)))


def flux_forward(m: Task, cells: torch.Tensor) -> torch.Tensor:
    d = m.flux.data
    return m.flux(cells)[..., d.flux_index()]


@torch.no_grad()
def predict_sites(task: Task, data: DereTensors, forward: Callable) -> np.ndarray:
    task.eval()
    return forward(task, data.site_cell).float().cpu().numpy()


def test_scores(pred: np.ndarray, data: DereTensors, network: str = "all") -> dict:
    """Scores on real observations of the test sites (of the network) in physical units."""
    sel = data.sites("test", network).numpy()
    return site_scores(pred[sel], data.insitu.numpy()[sel], data.fluxes, data.site_network[sel], data.site_igbp[sel])


def _load_flux_model(data: DereTensors, cfg: dict, ctx: Context, step2_state: dict, pft_state: dict, pure: torch.Tensor) -> FluxModel:
    mix = new_mix_model(data, cfg)
    mix.load_state_dict(step2_state)
    pft = new_pft_model(data, cfg)
    pft.load_state_dict(pft_state)
    return FluxModel(data, mix, pft, pure, ctx)


def networks_to_train(data: DereTensors) -> list[str]:
    """Each network with at least one training site, then 'all'."""
    return [n for n in data.networks() if len(data.sites("train", n))] + ["all"]


def step4(data: DereTensors, cfg: dict, ctx: Context, step2_state: dict, pft_state: dict, pure: torch.Tensor) -> dict[str, dict]:
    """Per network (+ all): fine-tune branch0 and the PFT model on in-situ GPP, RECO, NEE."""
    out = {}
    for network in networks_to_train(data):
        flux = _load_flux_model(data, cfg, ctx, step2_state, pft_state, pure)
        task = Task(frozen=[flux.mix.pure], flux=flux)
        fit = _in_situ_fit(data, cfg, ctx, task, flux_forward, network, f"step4_{network}", cfg["epochs"]["step4"])
        pred = predict_sites(task, data, flux_forward)
        out[network] = {"state": {"mix": flux.mix.state_dict(), "pft": flux.pft.state_dict()}, "fit": fit, "pred": pred, "scores": test_scores(pred, data, network)}
    return out


def step6(data: DereTensors, cfg: dict, ctx: Context, step2_state: dict, pft_state: dict, pure: torch.Tensor,
          labels: torch.Tensor, label_std: torch.Tensor, imputed: torch.Tensor) -> dict[str, dict]:
    """Like step 4 (from steps 2 and 3), plus expanded labels at gaps weighted by a learned uncertainty weight.

    labels, label_std [S, T, K] physical (NaN where no label); imputed [S, T, K] bool.
    loss = observed_weight * MSE(observed) + mean(clamp(w, floor, 1) * err^2 on imputed) + reg * mean(-log w).
    """
    spec = cfg["step6"]
    fs = _flux_scaler(data).to(ctx.device.device)
    out = {}
    for network in networks_to_train(data):
        flux = _load_flux_model(data, cfg, ctx, step2_state, pft_state, pure)
        weight_net = WeightNet(spec["weight_hidden"])
        task = Task(frozen=[flux.mix.pure], flux=flux, weight=weight_net)

        def extra(m: Task, sites: torch.Tensor, pred: torch.Tensor, observed_loss: torch.Tensor) -> torch.Tensor:
            lab, std, imp = _dev(ctx, labels[sites], label_std[sites], imputed[sites])
            z = fs.to_normal(pred)
            target = torch.where(imp, fs.to_normal(lab), torch.full_like(lab, float("nan")))
            w = m.weight(z.detach(), torch.nan_to_num(std / fs.std)).clamp(spec["weight_floor"], 1.0)
            err = (z - torch.nan_to_num(target)).pow(2)
            n = imp.float().sum().clamp_min(1.0)
            imputed_loss = (w * err * imp).sum() / n
            reg = (-torch.log(w) * imp).sum() / n
            return spec["observed_weight"] * observed_loss + imputed_loss + spec["weight_reg"] * reg

        fit = _in_situ_fit(data, cfg, ctx, task, flux_forward, network, f"step6_{network}", cfg["epochs"]["step6"], extra_loss=extra)
        pred = predict_sites(task, data, flux_forward)
        out[network] = {"state": {"mix": flux.mix.state_dict(), "pft": flux.pft.state_dict(), "weight": weight_net.state_dict()},
                        "fit": fit, "pred": pred, "scores": test_scores(pred, data, network)}
    return out


# ----------------------------------------------------------------------------- comparison models
def baseline(data: DereTensors, cfg: dict, ctx: Context) -> dict:
    """Backbone trained on in-situ data only (all networks)."""
    net = Backbone(data.x.shape[-1] + 1, len(data.fluxes), backbone_config(cfg["backbone"]))
    fs = _flux_scaler(data).to(ctx.device.device)
    task = Task(net=net)

    def forward(m: Task, cells: torch.Tensor) -> torch.Tensor:
        (x,) = _dev(ctx, _mean_age_input(data, cells))
        return fs.to_physical(m.net(x))

    fit = _in_situ_fit(data, cfg, ctx, task, forward, "all", "baseline", cfg["epochs"]["baseline"])
    pred = predict_sites(task, data, forward)
    return {"state": net.state_dict(), "fit": fit, "pred": pred, "scores": test_scores(pred, data)}


def kgml(data: DereTensors, cfg: dict, ctx: Context) -> dict:
    """Pretrain one backbone on age-weighted process output with the physics loss, then fine-tune on in-situ."""
    net = Backbone(data.x.shape[-1] + 1, len(data.variables), backbone_config(cfg["backbone"]))
    scaler = _scaler(data)
    task = Task(net=net)

    def physical(m: Task, cells: torch.Tensor) -> torch.Tensor:
        (x,) = _dev(ctx, _mean_age_input(data, cells))
        return scaler.to(x.device).clamp(scaler.to(x.device).to_physical(m.net(x)))

    def pre_loss(m: Task, cells: torch.Tensor) -> torch.Tensor:
        (y,) = _dev(ctx, _age_weighted_target(data, cells))
        return physics_loss(physical(m, cells), y, scaler.to(y.device), cfg["train"]["physics_weight"])

    cells, vcells = data.cells("train"), data.cells("val")
    batches = lambda epoch: [cells[b] for b in index_batches(len(cells), cfg["train"]["batch_size"], ctx.seed, "kgml_pre", epoch)]  # noqa: E731
    pre = _fit(task, trainable(task), cfg, cfg["epochs"]["kgml_pretrain"], ctx, "kgml_pretrain", batches, pre_loss, lambda m: float(pre_loss(m, vcells)))
    forward = lambda m, c: physical(m, c)[..., data.flux_index()]  # noqa: E731
    fit = _in_situ_fit(data, cfg, ctx, task, forward, "all", "kgml_finetune", cfg["epochs"]["kgml_finetune"])
    pred = predict_sites(task, data, forward)
    return {"state": net.state_dict(), "fit": fit, "pretrain": pre, "pred": pred, "scores": test_scores(pred, data)}


# ----------------------------------------------------------------------------- maps
@torch.no_grad()
def predict_cells(data: DereTensors, cfg: dict, ctx: Context, state: dict, pure: torch.Tensor, batch: int = 64) -> np.ndarray:
    """All process variables for every cell from a step 4/6 state: physical [C, L, V]."""
    flux = _load_flux_model(data, cfg, ctx, state["mix"], state["pft"], pure)
    flux.to(ctx.device.device).eval()
    cells = torch.arange(data.x.shape[0])
    return np.concatenate([flux(cells[i : i + batch]).float().cpu().numpy() for i in range(0, len(cells), batch)])


def prediction_residuals(y: np.ndarray, names: list[str]) -> dict:
    return residual_summary({k: v.numpy() for k, v in physics_residuals(torch.from_numpy(y), names).items()})


def fit_summary(fit: FitResult) -> dict:
    d = fit.as_dict()
    d["best_val"] = d["best_val"] if math.isfinite(d["best_val"]) else None
    return d


# ----------------------------------------------------------------------------- test-cell scores of steps 1-3
@torch.no_grad()
def cell_scores(data: DereTensors, cfg: dict, ctx: Context, model: MixModel, part: str, pure: torch.Tensor | None = None) -> dict:
    """Test cells, physical units, against the process model: step 1 pure (each branch on its pure cells),
    step 1 mix (per age class), step 2 (age-weighted). Scores of GPP, RECO, NEE and physics residuals."""
    from terraflux.dere.metrics import scores

    model.to(ctx.device.device).eval()
    n_ages = data.age_weight.shape[1]
    fi = data.flux_index()
    if part == "pure":
        out = {}
        groups = data.ds["pft_group"].values.tolist()
        ds = cfg["dataset"]
        for g, cells in enumerate(pure_cells(data, "test", ds["pure_threshold"], ds["min_pure_cells"])):
            c, a = _pairs(cells, n_ages)
            (x,) = _dev(ctx, _age_input(data, c, a))
            pred = model.scaler.clamp(model.scaler.to_physical(model.pure(x, [g])[:, 0])).cpu().numpy()
            target = data.y[c, a].numpy()
            out[groups[g]] = {f: scores(pred[..., i], target[..., i]) for f, i in zip(data.fluxes, fi)}
        return out
    cells = data.cells("test")
    if part == "mix":
        c, a = _pairs(cells, n_ages)
        x, f = _dev(ctx, _age_input(data, c, a), data.monthly(data.process_fraction[c, a], 1))
        pred = model.scaler.clamp(model(x, f)).cpu()
        target = data.y[c, a]
    else:
        fused, frac = _fused_process(data, pure, cells)
        x, fused, frac = _dev(ctx, _mean_age_input(data, cells), fused, frac)
        pred = model.scaler.clamp(model(x, frac, pure=fused)).cpu()
        target = _age_weighted_target(data, cells)
    p, t = pred.numpy(), target.numpy()
    return {"scores": {f: scores(p[..., i], t[..., i]) for f, i in zip(data.fluxes, fi)}, "physics_residuals": prediction_residuals(p, data.variables)}


@torch.no_grad()
def pft_scores(data: DereTensors, ctx: Context, model: PftModel) -> dict:
    """Test cells: RMSE of age-weighted predicted fractions vs ESA-CCI, and of per-age fractions vs the process model."""
    model.to(ctx.device.device).eval()
    cells = data.cells("test")
    frac = pft_per_age(model, data, cells, ctx).cpu()
    weighted = (frac * data.age_weight[cells][:, :, None, None]).sum(1)
    return {"rmse_vs_esa": float((weighted - data.esa_fraction[cells]).pow(2).mean().sqrt()),
            "rmse_vs_process_per_age": float((frac - data.process_fraction[cells]).pow(2).mean().sqrt())}


@torch.no_grad()
def predict_maps(data: DereTensors, cfg: dict, ctx: Context, model: str, state: dict, step2_state: dict | None, network: str = "all", batch: int = 64) -> np.ndarray:
    """GPP, RECO, NEE for every cell from a trained model: physical [C, L, K].

    model: ``step4``/``step6`` (state per network; needs the step-2 state for the pure branches), ``baseline``
    or ``kgml`` (state {"net": ...})."""
    cells = torch.arange(data.x.shape[0])
    if model in ("step4", "step6"):
        if network not in state:
            raise DataError(f"no {model} model for network {network!r}; trained: {sorted(state)}")
        mix = new_mix_model(data, cfg)
        mix.load_state_dict(step2_state)
        pure = pure_outputs(data, mix, ctx)
        return predict_cells(data, cfg, ctx, state[network], pure, batch)[..., data.flux_index()]
    n_out = len(data.fluxes) if model == "baseline" else len(data.variables)
    net = Backbone(data.x.shape[-1] + 1, n_out, backbone_config(cfg["backbone"]))
    net.load_state_dict(state["net"])
    net.to(ctx.device.device).eval()
    outs = []
    for i in range(0, len(cells), batch):
        (x,) = _dev(ctx, _mean_age_input(data, cells[i : i + batch]))
        z = net(x).float().cpu()
        if model == "baseline":
            outs.append(_flux_scaler(data).to_physical(z))
        else:
            s = _scaler(data)
            outs.append(s.clamp(s.to_physical(z))[..., data.flux_index()])
    return torch.cat(outs).numpy()
