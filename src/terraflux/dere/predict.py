"""Prediction and scoring of trained DERE models (the training stages: :mod:`terraflux.dere.stages`).

Scores use :mod:`terraflux.metrics` in physical units on held-out data: the ``test`` sites (in-situ
observations) for the in-situ models, pooled over the folds of the sites (:func:`pooled_held_out`), the ``test``
cells (process model, ESA-CCI fractions) for steps 1-3.
Shapes: C cells, S sites, A age classes, L months, V process variables, K in-situ fluxes, Y years,
P PFT groups.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from terraflux.dere.dataset import DereTensors
from terraflux.dere.models import (
    MixModel,
    PftModel,
    Task,
    age_input,
    comparison_backbone,
    flux_scaler,
    fused_process,
    load_flux_model,
    mean_age_input,
    new_backbone,
    new_mix_model,
    pft_per_age,
    physics_residuals,
    process_scaler,
    pure_outputs,
    to_device,
)
from terraflux.errors import DataError
from terraflux.metrics import grouped_metrics, point_metrics

import numpy as np
import torch

MAP_MODELS = ("step4", "step6", "baseline", "kgml")


@torch.no_grad()
def predict_sites(task: Task, data: DereTensors, forward: Callable[[Task, torch.Tensor], torch.Tensor]) -> np.ndarray:
    """GPP, RECO, NEE of a trained task at every site's cell (``forward(task, cells)``): physical [S, L, K]."""
    task.eval()
    return forward(task, data.site_cell).float().cpu().numpy()


def held_out_site_scores(pred: np.ndarray, data: DereTensors, network: str = "all") -> dict:
    """Point metrics of site predictions [S, L, K] against the observations at the ``test`` sites (of the
    network): per flux overall, per network and per IGBP class."""
    sel = data.sites("test", network).numpy()
    groups = {"network": data.site_network[sel], "igbp": data.site_igbp[sel]}
    return grouped_metrics(pred[sel], data.insitu.numpy()[sel], data.fluxes, groups)


def pooled_held_out(
    predictions: dict[int, np.ndarray], data: DereTensors
) -> tuple[np.ndarray, np.ndarray, DereTensors]:
    """k-fold pooling: ``predictions`` maps fold k to the site predictions [S, L, K] of the model trained with fold
    k held out. Returns (pooled [S, L, K]: each site's prediction by the fold that tested it, NaN at sites of the
    folds not given; the testing fold of each site [S], -1 where not given; the data with exactly the pooled sites
    as ``test``, the others ``untested``, for :func:`held_out_site_scores`)."""
    split = data.ds["fold_site_split"].values.astype(str)  # (fold, S)
    pooled = np.full_like(next(iter(predictions.values())), np.nan)
    fold = np.full(split.shape[1], -1)
    for k, pred in predictions.items():
        tested = split[k] == "test"
        pooled[tested], fold[tested] = pred[tested], k
    return pooled, fold, replace(data, site_split=np.where(fold >= 0, "test", "untested"))


def spread(scores: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, dict]]:
    """Mean and sample standard deviation (ddof 1; None for one entry) of each metric over ``scores``, a list of
    {flux: {metric: value}} (the count ``n`` left out) -> {flux: {metric: {"mean", "std"}}}."""
    out: dict[str, dict[str, dict]] = {}
    for flux, metrics in scores[0].items():
        out[flux] = {}
        for metric in metrics:
            if metric == "n":
                continue
            values = np.array([s[flux][metric] for s in scores], float)
            out[flux][metric] = {
                "mean": float(np.mean(values)),
                "std": float(np.std(values, ddof=1)) if len(values) > 1 else None,
            }
    return out


def seed_and_fold_spread(scores: dict[int, dict[int, dict]]) -> tuple[dict, dict]:
    """``scores`` maps training seed s, then fold k, to the overall scores {flux: {metric: value}} of that model.
    Returns (spread over folds of each fold's metric averaged over seeds, spread over seeds of each seed's mean
    over folds), each as :func:`spread`; both means are the mean over every (seed, fold)."""
    seeds = list(scores.values())
    folds = list(seeds[0])

    def mean_of(entries: list[dict]) -> dict[str, dict[str, float]]:
        return {f: {m: v["mean"] for m, v in per.items()} for f, per in spread(entries).items()}

    over_folds = spread([mean_of([s[k] for s in seeds]) for k in folds])
    over_seeds = spread([mean_of([s[k] for k in folds]) for s in seeds])
    return over_folds, over_seeds


def physics_residual_summary(y: np.ndarray, names: list[str]) -> dict[str, dict[str, float]]:
    """Mean and maximum absolute value of each physics residual (:func:`~terraflux.dere.models.physics_residuals`)
    of physical outputs [..., V] with variables ``names``."""
    residuals = physics_residuals(torch.from_numpy(y), names)
    return {
        k: {"mean_abs": float(np.nanmean(np.abs(v.numpy()))), "max_abs": float(np.nanmax(np.abs(v.numpy())))}
        for k, v in residuals.items()
    }


def carbon_balance_residual(pred: np.ndarray, fluxes: list[str]) -> float:
    """Mean |RECO - GPP - NEE| of in-situ flux predictions [..., K] (gC m-2 d-1)."""
    k = {f: i for i, f in enumerate(fluxes)}
    return float(abs(pred[..., k["RECO"]] - pred[..., k["GPP"]] - pred[..., k["NEE"]]).mean())


# ----------------------------------------------------------------------------- scores of steps 1-3
@torch.no_grad()
def held_out_cell_scores(
    data: DereTensors, cfg: dict, device: torch.device, model: MixModel, part: str, pure: torch.Tensor | None = None
) -> dict:
    """Test cells, physical units, against the process model: step 1 ``pure`` (each branch on its pure cells),
    step 1 ``mix`` (per age class), ``step2`` (age-weighted). Scores of GPP, RECO, NEE; except for ``pure``
    also the physics residuals."""
    model.to(device).eval()
    fi = data.flux_index()
    if part == "pure":
        out = {}
        groups = data.ds["pft_group"].values.tolist()
        ds = cfg["dataset"]
        for g, cells in enumerate(data.pure_cells("test", ds["pure_threshold"], ds["min_pure_cells"])):
            c, a = data.cell_age_pairs(cells)
            (x,) = to_device(device, age_input(data, c, a))
            pred = model.scaler.clamp(model.scaler.to_physical(model.pure(x, [g])[:, 0])).cpu().numpy()
            target = data.y[c, a].numpy()
            out[groups[g]] = {
                f: point_metrics(pred[..., i], target[..., i]) for f, i in zip(data.fluxes, fi, strict=True)
            }
        return out
    cells = data.cells("test")
    if part == "mix":
        c, a = data.cell_age_pairs(cells)
        x, f = to_device(device, age_input(data, c, a), data.monthly(data.process_fraction[c, a], 1))
        pred = model.scaler.clamp(model(x, f)).cpu()
        target = data.y[c, a]
    else:
        fused, frac = fused_process(data, pure, cells)
        x, fused, frac = to_device(device, mean_age_input(data, cells), fused, frac)
        pred = model.scaler.clamp(model(x, frac, pure=fused)).cpu()
        target = data.age_weighted_target(cells)
    p, t = pred.numpy(), target.numpy()
    return {
        "scores": {f: point_metrics(p[..., i], t[..., i]) for f, i in zip(data.fluxes, fi, strict=True)},
        "physics_residuals": physics_residual_summary(p, data.variables),
    }


@torch.no_grad()
def held_out_pft_scores(data: DereTensors, device: torch.device, model: PftModel) -> dict:
    """Test cells: RMSE of the age-weighted predicted fractions vs ESA-CCI, and of the per-age fractions vs the
    process model (1)."""
    model.to(device).eval()
    cells = data.cells("test")
    frac = pft_per_age(model, data, cells, device).cpu()
    weighted = (frac * data.age_weight[cells][:, :, None, None]).sum(1)
    return {
        "rmse_vs_esa": float((weighted - data.esa_fraction[cells]).pow(2).mean().sqrt()),
        "rmse_vs_process_per_age": float((frac - data.process_fraction[cells]).pow(2).mean().sqrt()),
    }


# ----------------------------------------------------------------------------- maps
@torch.no_grad()
def predict_maps(
    data: DereTensors,
    cfg: dict,
    device: torch.device,
    model: str,
    state: dict,
    step2_state: dict | None,
    network: str,
    backbone: str | None = None,
    batch: int = 64,
) -> np.ndarray:
    """GPP, RECO, NEE for every cell from a trained model: physical [C, L, K].

    model: ``step4``/``step6`` (state per network; needs the step-2 state for the pure branches), ``baseline``
    or ``kgml`` (state {"net": ...}) on the comparison backbone ``backbone``."""
    if model not in MAP_MODELS:
        raise ValueError(f"model must be one of {MAP_MODELS}, not {model!r}")
    cells = torch.arange(data.x.shape[0])
    if model in ("step4", "step6"):
        if network not in state:
            raise DataError(f"no {model} model for network {network!r}; trained: {sorted(state)}")
        mix = new_mix_model(data, cfg)
        mix.load_state_dict(step2_state)
        pure = pure_outputs(mix, data, device)
        flux = load_flux_model(data, cfg, device, state[network]["mix"], state[network]["pft"], pure)
        flux.to(device).eval()
        y = np.concatenate([flux(cells[i : i + batch]).float().cpu().numpy() for i in range(0, len(cells), batch)])
        return y[..., data.flux_index()]
    if backbone is None:
        raise ValueError(f"the {model} maps need the comparison backbone's name")
    n_out = len(data.fluxes) if model == "baseline" else len(data.variables)
    net = new_backbone(data, comparison_backbone(cfg, backbone), n_out)
    net.load_state_dict(state["net"])
    net.to(device).eval()
    outs = []
    for i in range(0, len(cells), batch):
        (x,) = to_device(device, mean_age_input(data, cells[i : i + batch]))
        z = net(x).float().cpu()
        if model == "baseline":
            outs.append(flux_scaler(data).to_physical(z))
        else:
            s = process_scaler(data)
            outs.append(s.clamp(s.to_physical(z))[..., data.flux_index()])
    return torch.cat(outs).numpy()
