"""The DERE training stages as functions: each trains with the shared engine and returns a typed result.

DERE (decomposition and resembling; Xu et al., KDD 2026, doi 10.1145/3770855.3818927) learns the process
model per PFT group (step 1), their mixing with age classes (step 2), the PFT composition against ESA-CCI
(step 3), corrects with in-situ fluxes (step 4), expands the in-situ labels with CSDI (step 5,
:mod:`terraflux.csdi`) and fine-tunes on them weighted by their uncertainty (step 6).

Every function takes the dataset tensors (:class:`~terraflux.dere.dataset.DereTensors`), the ``dere`` config
dict (validated by the schema: no silent defaults here), and a :class:`Context` (device, seed, folder for
resume checkpoints, fingerprint of the stage's params). Sizes all come from the data and the config.
Prediction and scoring of trained models: :mod:`terraflux.dere.predict`.

Samples: steps 1 and 3a use (cell, age class) pairs of training cells; step 2 and 3b use cells; steps 4 and
6, Baseline and KGML fine-tuning use in-situ sites (their matched cell's drivers); validation always uses the
``val`` split; the ``test`` split is never trained on. The in-situ stages train once per fold of the sites
(:func:`over_folds`); the stages on cells see no site observation and serve every fold.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from terraflux.dere.dataset import DereTensors
from terraflux.dere.models import (
    MixModel,
    PftModel,
    Task,
    WeightNet,
    age_input,
    comparison_backbone,
    flux_scaler,
    fused_process,
    load_flux_model,
    masked_mse,
    mean_age_input,
    new_backbone,
    new_mix_model,
    new_pft_model,
    pft_per_age,
    physics_loss,
    process_scaler,
    pure_outputs,
    to_device,
    trainable,
    yearly_drivers,
)
from terraflux.dere.predict import predict_sites
from terraflux.errors import DataError
from terraflux.train import DeviceInfo, Engine, FitResult, TrainConfig, derive_seed, make_generator, seed_everything
from terraflux.train.launch import Distributed

import numpy as np
import torch

LOG = logging.getLogger(__name__)
R = TypeVar("R")


@dataclass
class Context:
    device: DeviceInfo
    seed: int
    resume_dir: Path
    fingerprint: str
    dist: Distributed = field(default_factory=Distributed)  # data-parallel processes (the engine splits each batch)


@dataclass
class MixResult:
    """Steps 1 (pure, mix) and 2: the trained model; step 2 also its pure outputs [C, A, P, L, V]."""

    model: MixModel
    fit: FitResult
    pure: torch.Tensor | None = None


@dataclass
class PftResult:
    """Steps 3a and 3b: the trained PFT model."""

    model: PftModel
    fit: FitResult


@dataclass
class InSituResult:
    """A model fine-tuned on in-situ fluxes: its state dicts by module name, its predictions at every site
    (physical [S, T, K]) and, for KGML, the fit of the pretraining."""

    state: dict[str, dict]
    fit: FitResult
    predictions: np.ndarray
    pretrain: FitResult | None = None


def _fit(
    task: Task,
    cfg: dict,
    ctx: Context,
    name: str,
    epochs: int,
    batches: Callable[[int], list],
    step: Callable,
    validate: Callable,
    validate_start: bool = False,
) -> FitResult:
    """Train the trainable parameters of ``task`` with the shared engine (Adam, learning rate decayed per epoch),
    resuming from ``<resume_dir>/<name>.pt``; ``validate_start``: the starting weights are a candidate
    (:class:`~terraflux.train.engine.TrainConfig`)."""
    train = cfg["train"]
    optimizer = torch.optim.Adam(trainable(task), lr=train["lr"])
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=train["lr_decay"])
    config = TrainConfig(
        max_epochs=epochs,
        patience=train["patience"],
        grad_clip=train["grad_clip"],
        checkpoint_every=train["checkpoint_every"],
        max_steps_per_epoch=train["max_steps_per_epoch"],
        validate_start=validate_start,
    )
    engine = Engine(
        task,
        optimizer,
        config,
        resume_path=ctx.resume_dir / f"{name}.pt",
        scheduler=scheduler,
        device=ctx.device,
        fingerprint=ctx.fingerprint,
        dist=ctx.dist,
    )
    result = engine.fit(batches, step, validate)
    LOG.info(
        "%s: best val %.5g at epoch %d after %d steps (%.1f s)",
        name,
        result.best_val,
        result.best_epoch,
        result.steps,
        result.seconds,
    )
    return result


def index_batches(n: int, batch: int, seed: int, *names: object) -> list[torch.Tensor]:
    """Shuffled index batches, a pure function of (seed, names)."""
    order = torch.randperm(n, generator=make_generator(derive_seed(seed, *names)))
    return list(order.split(batch))


def _shuffled(cfg: dict, ctx: Context, key: str, *samples: torch.Tensor) -> Callable[[int], list]:
    """``epoch -> batches``: the samples (tensors of one length, e.g. cells and age classes) shuffled alike, in
    batches of ``train.batch_size``, a pure function of (seed, key, epoch); a batch is a tensor for one sample
    tensor, else a tuple."""

    def batches(epoch: int) -> list:
        order = index_batches(len(samples[0]), cfg["train"]["batch_size"], ctx.seed, key, epoch)
        return [tuple(s[b] for s in samples) if len(samples) > 1 else samples[0][b] for b in order]

    return batches


def over_folds(
    data: DereTensors, ctx: Context, folds: list[int], train: Callable[[DereTensors, Context, int], R]
) -> dict[int, R]:
    """``train(fold data, fold context, k)`` for each fold k of ``folds`` (k-fold over sites): the fold's site
    splits and in-situ statistics (:meth:`~terraflux.dere.dataset.DereTensors.fold`), resume checkpoints under
    ``<resume_dir>/fold<k>``."""
    return {k: train(data.fold(k), replace(ctx, resume_dir=ctx.resume_dir / f"fold{k}"), k) for k in folds}


def over_seeds(ctx: Context, seeds: int, train: Callable[[Context], R]) -> dict[int, R]:
    """``train(seed context)`` for each training seed s < ``seeds``: seed 0 is ``ctx`` itself; seed s > 0 reseeds
    every generator with ``derive_seed(ctx.seed, "seed", s)`` (initialisation, batch order, dropout) and resumes
    under ``<resume_dir>/seed<s>``."""
    out = {0: train(ctx)}
    for s in range(1, seeds):
        seed = derive_seed(ctx.seed, "seed", s)
        seed_everything(seed)
        out[s] = train(replace(ctx, seed=seed, resume_dir=ctx.resume_dir / f"seed{s}"))
    return out


# ----------------------------------------------------------------------------- step 1
def step1_pure(data: DereTensors, cfg: dict, ctx: Context) -> MixResult:
    """Pure branches: each iteration one batch of pure-BL, pure-NL, pure-GS (cell, age) samples; mean physics loss."""
    ds = cfg["dataset"]
    model = new_mix_model(data, cfg)
    task = Task(frozen=[model.branch0], mix=model)
    batch, w = cfg["train"]["batch_size"], cfg["train"]["physics_weight"]
    groups = [data.cell_age_pairs(c) for c in data.pure_cells("train", ds["pure_threshold"], ds["min_pure_cells"])]
    val_groups = [data.cell_age_pairs(c) for c in data.pure_cells("val", ds["pure_threshold"], ds["min_pure_cells"])]

    def batches(epoch: int) -> list:
        per_group = [index_batches(len(c), batch, ctx.seed, "pure", g, epoch) for g, (c, _) in enumerate(groups)]
        n = max(len(b) for b in per_group)
        return [
            [(groups[g][0][b[i % len(b)]], groups[g][1][b[i % len(b)]]) for g, b in enumerate(per_group)]
            for i in range(n)
        ]

    def group_loss(m: Task, g: int, cells: torch.Tensor, ages: torch.Tensor) -> torch.Tensor:
        x, y = to_device(ctx.device.device, age_input(data, cells, ages), data.y[cells, ages])
        pred = m.mix.scaler.clamp(m.mix.scaler.to_physical(m.mix.pure(x, [g])[:, 0]))
        return physics_loss(pred, y, m.mix.scaler, w)

    def step(m: Task, parts: list) -> torch.Tensor:
        return sum(group_loss(m, g, c, a) for g, (c, a) in enumerate(parts)) / len(parts)

    def validate(m: Task) -> float:
        return float(np.mean([float(group_loss(m, g, c, a)) for g, (c, a) in enumerate(val_groups) if len(c)]))

    fit = _fit(task, cfg, ctx, "step1_pure", cfg["epochs"]["step1_pure"], batches, step, validate)
    return MixResult(model, fit)


def _cell_age_loss(
    data: DereTensors, cfg: dict, ctx: Context, model: MixModel, cells: torch.Tensor, ages: torch.Tensor
) -> torch.Tensor:
    frac = data.monthly(data.process_fraction[cells, ages], 1)  # (B, L, P)
    x, f, y = to_device(ctx.device.device, age_input(data, cells, ages), frac, data.y[cells, ages])
    return physics_loss(model.scaler.clamp(model(x, f)), y, model.scaler, cfg["train"]["physics_weight"])


def step1_mix(data: DereTensors, cfg: dict, ctx: Context, pure_state: dict) -> MixResult:
    """Shared embedding+encoder frozen; branch decoders and the competition branch train on all (cell, age)."""
    model = new_mix_model(data, cfg)
    model.load_state_dict(pure_state)
    task = Task(frozen=model.pure.shared(), mix=model)
    cells, ages = data.cell_age_pairs(data.cells("train"))
    vcells, vages = data.cell_age_pairs(data.cells("val"))
    batches = _shuffled(cfg, ctx, "mix", cells, ages)
    step = lambda m, b: _cell_age_loss(data, cfg, ctx, m.mix, *b)  # noqa: E731
    validate = lambda m: float(_cell_age_loss(data, cfg, ctx, m.mix, vcells, vages))  # noqa: E731
    fit = _fit(task, cfg, ctx, "step1_mix", cfg["epochs"]["step1_mix"], batches, step, validate)
    return MixResult(model, fit)


# ----------------------------------------------------------------------------- step 2
def step2(data: DereTensors, cfg: dict, ctx: Context, mix_state: dict) -> MixResult:
    """Only the competition branch trains: fused per-age pure outputs + branch0(x, age-summed fractions)."""
    model = new_mix_model(data, cfg)
    model.load_state_dict(mix_state)
    task = Task(frozen=[model.pure], mix=model)
    pure = pure_outputs(model, data, ctx.device.device)

    def loss(m: Task, cells: torch.Tensor) -> torch.Tensor:
        fused, frac = fused_process(data, pure, cells)
        x, fused, frac, y = to_device(
            ctx.device.device, mean_age_input(data, cells), fused, frac, data.age_weighted_target(cells)
        )
        return physics_loss(
            m.mix.scaler.clamp(m.mix(x, frac, pure=fused)), y, m.mix.scaler, cfg["train"]["physics_weight"]
        )

    cells, vcells = data.cells("train"), data.cells("val")
    batches = _shuffled(cfg, ctx, "step2", cells)
    fit = _fit(task, cfg, ctx, "step2", cfg["epochs"]["step2"], batches, loss, lambda m: float(loss(m, vcells)))
    return MixResult(model, fit, pure)


# ----------------------------------------------------------------------------- step 3
def step3a(data: DereTensors, cfg: dict, ctx: Context) -> PftResult:
    """PFT model fits the process model's per-age fractions (MSE)."""
    model = new_pft_model(data, cfg)
    task = Task(pft=model)

    def loss(m: Task, b: tuple) -> torch.Tensor:
        cells, ages = b
        target = data.process_fraction[cells, ages]
        x, a, tok, target = to_device(ctx.device.device, yearly_drivers(data, cells), ages, target[:, 0], target)
        return torch.nn.functional.mse_loss(m.pft(x, a, tok), target)

    cells, ages = data.cell_age_pairs(data.cells("train"))
    val = data.cell_age_pairs(data.cells("val"))
    batches = _shuffled(cfg, ctx, "pft_a", cells, ages)
    fit = _fit(task, cfg, ctx, "step3a", cfg["epochs"]["step3a"], batches, loss, lambda m: float(loss(m, val)))
    return PftResult(model, fit)


def step3b(data: DereTensors, cfg: dict, ctx: Context, state: dict) -> PftResult:
    """Encoder frozen; MSE(sum_age w_age frac_age, ESA-CCI fractions)."""
    model = new_pft_model(data, cfg)
    model.load_state_dict(state)
    task = Task(frozen=model.encoder_modules(), pft=model)

    def loss(m: Task, cells: torch.Tensor) -> torch.Tensor:
        frac = pft_per_age(m.pft, data, cells, ctx.device.device)
        w, esa = to_device(ctx.device.device, data.age_weight[cells], data.esa_fraction[cells])
        return torch.nn.functional.mse_loss((frac * w[:, :, None, None]).sum(1), esa)

    cells, vcells = data.cells("train"), data.cells("val")
    batches = _shuffled(cfg, ctx, "pft_b", cells)
    fit = _fit(task, cfg, ctx, "step3b", cfg["epochs"]["step3b"], batches, loss, lambda m: float(loss(m, vcells)))
    return PftResult(model, fit)


# ----------------------------------------------------------------------------- steps 4 and 6
def _in_situ_fit(
    data: DereTensors,
    cfg: dict,
    ctx: Context,
    task: Task,
    forward: Callable,
    network: str,
    name: str,
    epochs: int,
    extra_loss: Callable | None = None,
) -> FitResult:
    """Masked MSE (normalised with in-situ statistics) on the network's training sites; val on its val sites."""
    fs = flux_scaler(data).to(ctx.device.device)
    train_sites = data.sites("train", network)
    val_sites = data.sites("val", network)
    if len(val_sites) == 0:
        val_sites = data.sites("val")
    if len(train_sites) == 0:
        raise DataError(f"network {network!r} has no training site")

    def loss(m: Task, sites: torch.Tensor) -> torch.Tensor:
        pred = forward(m, data.site_cell[sites])
        (obs,) = to_device(ctx.device.device, data.insitu[sites])
        base = masked_mse(fs.to_normal(pred), fs.to_normal(obs))
        if extra_loss is not None and m.training:
            return extra_loss(m, sites, pred, base)
        return base

    validate = lambda m: float(loss(m, val_sites))  # noqa: E731
    shuffled = _shuffled(cfg, ctx, name, train_sites)
    passes = cfg["train"]["site_passes"]

    def batches(epoch: int) -> list:
        """``site_passes`` shuffled passes over the training sites (each a pure function of seed, name, epoch)."""
        return [b for p in range(passes) for b in shuffled(epoch * passes + p)]

    return _fit(task, cfg, ctx, name, epochs, batches, loss, validate, validate_start=cfg["train"]["validate_start"])


def flux_forward(m: Task, cells: torch.Tensor) -> torch.Tensor:
    """GPP, RECO, NEE of a task holding a :class:`~terraflux.dere.models.FluxModel` as ``flux``: [B, L, K]."""
    return m.flux(cells)[..., m.flux.data.flux_index()]


def networks_to_train(data: DereTensors, per_network: bool = True) -> list[str]:
    """Each network with at least one training site (``per_network``), then 'all'."""
    return [n for n in data.networks() if per_network and len(data.sites("train", n))] + ["all"]


@dataclass
class FluxStart:
    """What steps 4 and 6 start from: the step-2 and step-3b state dicts and the step-2 model's pure-branch
    outputs of every (cell, age class) [C, A, P, L, V]; none saw a site observation, so every fold shares them."""

    step2_state: dict
    pft_state: dict
    pure: torch.Tensor

    @classmethod
    def of(cls, data: DereTensors, cfg: dict, ctx: Context, step2_state: dict, pft_state: dict) -> FluxStart:
        model = new_mix_model(data, cfg)
        model.load_state_dict(step2_state)
        return cls(step2_state, pft_state, pure_outputs(model, data, ctx.device.device))

    def flux_model(self, data: DereTensors, cfg: dict, ctx: Context):
        """A fresh :class:`~terraflux.dere.models.FluxModel` from these states."""
        return load_flux_model(data, cfg, ctx.device.device, self.step2_state, self.pft_state, self.pure)


def step4(
    data: DereTensors, cfg: dict, ctx: Context, start: FluxStart, per_network: bool = True
) -> dict[str, InSituResult]:
    """Per network (``per_network``) and for all networks: fine-tune branch0 and the PFT model (from steps 2 and
    3b, ``start``) on in-situ GPP, RECO, NEE."""
    out = {}
    for network in networks_to_train(data, per_network):
        flux = start.flux_model(data, cfg, ctx)
        task = Task(frozen=[flux.mix.pure], flux=flux)
        fit = _in_situ_fit(data, cfg, ctx, task, flux_forward, network, f"step4_{network}", cfg["epochs"]["step4"])
        state = {"mix": flux.mix.state_dict(), "pft": flux.pft.state_dict()}
        out[network] = InSituResult(state, fit, predict_sites(task, data, flux_forward))
    return out


def step6(
    data: DereTensors,
    cfg: dict,
    ctx: Context,
    start: FluxStart,
    labels: torch.Tensor,
    label_std: torch.Tensor,
    imputed: torch.Tensor,
    per_network: bool = True,
) -> dict[str, InSituResult]:
    """Like step 4 (from steps 2 and 3b), plus expanded labels at gaps weighted by a learned uncertainty weight.

    labels, label_std [S, T, K] physical (NaN where no label); imputed [S, T, K] bool.
    loss = observed_weight * MSE(observed) + mean(clamp(w, floor, 1) * err^2 on imputed) + reg * mean(-log w).
    """
    spec = cfg["step6"]
    fs = flux_scaler(data).to(ctx.device.device)
    out = {}
    for network in networks_to_train(data, per_network):
        flux = start.flux_model(data, cfg, ctx)
        weight_net = WeightNet(spec["weight_hidden"])
        task = Task(frozen=[flux.mix.pure], flux=flux, weight=weight_net)

        def extra(m: Task, sites: torch.Tensor, pred: torch.Tensor, observed_loss: torch.Tensor) -> torch.Tensor:
            lab, std, imp = to_device(ctx.device.device, labels[sites], label_std[sites], imputed[sites])
            z = fs.to_normal(pred)
            target = torch.where(imp, fs.to_normal(lab), torch.full_like(lab, float("nan")))
            w = m.weight(z.detach(), torch.nan_to_num(std / fs.std)).clamp(spec["weight_floor"], 1.0)
            err = (z - torch.nan_to_num(target)).pow(2)
            n = imp.float().sum().clamp_min(1.0)
            imputed_loss = (w * err * imp).sum() / n
            reg = (-torch.log(w) * imp).sum() / n
            return spec["observed_weight"] * observed_loss + imputed_loss + spec["weight_reg"] * reg

        fit = _in_situ_fit(
            data, cfg, ctx, task, flux_forward, network, f"step6_{network}", cfg["epochs"]["step6"], extra_loss=extra
        )
        state = {"mix": flux.mix.state_dict(), "pft": flux.pft.state_dict(), "weight": weight_net.state_dict()}
        out[network] = InSituResult(state, fit, predict_sites(task, data, flux_forward))
    return out


# ----------------------------------------------------------------------------- comparison models
VARIANTS = ("baseline", "kgml")


def baseline(data: DereTensors, cfg: dict, ctx: Context, backbone: str) -> InSituResult:
    """Backbone ``backbone`` (:func:`~terraflux.dere.models.comparison_backbone`) trained on in-situ data only
    (all networks)."""
    net = new_backbone(data, comparison_backbone(cfg, backbone), len(data.fluxes))
    fs = flux_scaler(data).to(ctx.device.device)
    task = Task(net=net)

    def forward(m: Task, cells: torch.Tensor) -> torch.Tensor:
        (x,) = to_device(ctx.device.device, mean_age_input(data, cells))
        return fs.to_physical(m.net(x))

    fit = _in_situ_fit(data, cfg, ctx, task, forward, "all", "baseline", cfg["epochs"]["baseline"])
    return InSituResult({"net": net.state_dict()}, fit, predict_sites(task, data, forward))


def kgml_pretrain(data: DereTensors, cfg: dict, ctx: Context, backbone: str) -> tuple[dict, FitResult]:
    """Pretrain backbone ``backbone`` on the age-weighted process output of the training cells with the physics
    loss (no site observation: every fold shares it): (state dict, fit)."""
    net = new_backbone(data, comparison_backbone(cfg, backbone), len(data.variables))
    task = Task(net=net)
    pre_loss = lambda m, cells: _kgml_physics_loss(data, cfg, ctx, m, cells)  # noqa: E731
    cells, vcells = data.cells("train"), data.cells("val")
    batches = _shuffled(cfg, ctx, "kgml_pre", cells)
    validate = lambda m: float(pre_loss(m, vcells))  # noqa: E731
    fit = _fit(task, cfg, ctx, "kgml_pretrain", cfg["epochs"]["kgml_pretrain"], batches, pre_loss, validate)
    return net.state_dict(), fit


def _kgml_physical(data: DereTensors, ctx: Context, m: Task, cells: torch.Tensor) -> torch.Tensor:
    """The KGML net's process variables in physical units (clamped): [B, L, V]."""
    (x,) = to_device(ctx.device.device, mean_age_input(data, cells))
    scaler = process_scaler(data).to(x.device)
    return scaler.clamp(scaler.to_physical(m.net(x)))


def _kgml_physics_loss(data: DereTensors, cfg: dict, ctx: Context, m: Task, cells: torch.Tensor) -> torch.Tensor:
    (y,) = to_device(ctx.device.device, data.age_weighted_target(cells))
    scaler = process_scaler(data).to(y.device)
    return physics_loss(_kgml_physical(data, ctx, m, cells), y, scaler, cfg["train"]["physics_weight"])


def kgml(
    data: DereTensors, cfg: dict, ctx: Context, backbone: str, pretrained: tuple[dict, FitResult] | None = None
) -> InSituResult:
    """Backbone ``backbone`` pretrained by :func:`kgml_pretrain` (``pretrained``, else pretrained here), then
    fine-tuned on in-situ data."""
    state, pre = pretrained if pretrained is not None else kgml_pretrain(data, cfg, ctx, backbone)
    net = new_backbone(data, comparison_backbone(cfg, backbone), len(data.variables))
    net.load_state_dict(state)
    task = Task(net=net)
    forward = lambda m, c: _kgml_physical(data, ctx, m, c)[..., data.flux_index()]  # noqa: E731
    fit = _in_situ_fit(data, cfg, ctx, task, forward, "all", "kgml_finetune", cfg["epochs"]["kgml_finetune"])
    return InSituResult({"net": net.state_dict()}, fit, predict_sites(task, data, forward), pretrain=pre)


def comparison(
    data: DereTensors,
    cfg: dict,
    ctx: Context,
    backbone: str,
    variant: str,
    pretrained: tuple[dict, FitResult] | None = None,
) -> InSituResult:
    """One comparison model: ``variant`` (``baseline`` or ``kgml``, from ``pretrained`` if given) on backbone
    ``backbone``."""
    if variant not in VARIANTS:
        raise ValueError(f"comparison variant must be one of {VARIANTS}, not {variant!r}")
    if variant == "baseline":
        return baseline(data, cfg, ctx, backbone)
    return kgml(data, cfg, ctx, backbone, pretrained)
