"""DERE step 5: train one CSDI per flux on in-situ series + drivers, score it on hidden points, impute gaps.

Series: per site, ``x`` [S, K, L] with channel 0 the flux (normalised with training-site statistics, 0 at
gaps) and channels 1..K-1 the site's cell drivers (already normalised); ``observed`` [S, K, L].
Training hides, per sample and year, the observed months of the first half of the year when the year has at
least ``well_observed_months`` observations, otherwise up to ``hide_per_year`` random observed months; the loss
covers the flux channel only. Each epoch passes ``repeats`` times over the training sites. The hold-out
(:func:`hold_out`) hides points of held-out sites by the same rule with a fixed seed; :func:`holdout_scores`
scores the samples there against the observations with :func:`terraflux.metrics.ensemble_metrics`.
"""

from __future__ import annotations

import logging
from typing import Any

from terraflux.csdi.model import CSDI, CSDIConfig
from terraflux.csdi.sample import sample
from terraflux.metrics import ensemble_metrics, point_estimate, point_metrics
from terraflux.train import Engine, FitResult, TrainConfig, derive_seed, make_generator

import numpy as np
import torch

LOG = logging.getLogger(__name__)


def series(flux: torch.Tensor, mean: float, std: float, drivers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """flux [S, L] physical with NaN gaps, drivers [S, L, F] normalised -> x, observed [S, 1+F, L]."""
    obs = torch.isfinite(flux)
    z = torch.where(obs, (flux - mean) / std, torch.zeros_like(flux))
    x = torch.cat([z[:, None], drivers.transpose(1, 2)], 1).float()
    observed = torch.cat([obs[:, None].float(), torch.ones_like(drivers.transpose(1, 2))], 1)
    return x, observed


def hide_mask(
    observed: torch.Tensor,
    months_per_year: int,
    well_observed: int,
    hide_per_year: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """observed [B, L] bool -> hidden [B, L] bool (subset of observed), see the module docstring."""
    b, length = observed.shape
    years = observed.view(b, length // months_per_year, months_per_year)
    first_half = torch.zeros(months_per_year, dtype=torch.bool)
    first_half[: months_per_year // 2] = True
    well = years.sum(-1, keepdim=True) >= well_observed
    # random observed months: rank random keys among observed months, keep the first hide_per_year
    keys = torch.rand(years.shape, generator=generator).to(observed.device)
    keys = torch.where(years, keys, torch.full_like(keys, 2.0))
    rank = keys.argsort(-1).argsort(-1)
    random_pick = years & (rank < hide_per_year)
    hidden = torch.where(well, years & first_half.to(observed.device), random_pick)
    return hidden.reshape(b, length)


def _cond(observed: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    cond = observed.clone()
    cond[:, 0] = observed[:, 0] * (~hidden).float()
    return cond


def train(
    x: torch.Tensor,
    observed: torch.Tensor,
    train_idx: torch.Tensor,
    val_idx: torch.Tensor,
    cfg: dict,
    train_cfg: dict,
    months_per_year: int,
    *,
    device: Any,
    seed: int,
    resume_path: Any,
    fingerprint: str,
) -> tuple[CSDI, FitResult]:
    """Train a CSDI with the shared engine; validation loss on ``val_idx`` with a fixed mask and noise."""
    model = CSDI(x.shape[1], CSDIConfig.from_dict(cfg))
    dev = device.device
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=1e-6)
    stopping = TrainConfig(cfg["epochs"], train_cfg["patience"], train_cfg["grad_clip"], train_cfg["checkpoint_every"])
    engine = Engine(model, optimizer, stopping, resume_path=resume_path, device=device, fingerprint=fingerprint)

    def batches(epoch: int) -> list[torch.Tensor]:
        g = make_generator(derive_seed(seed, "csdi", epoch))
        order = torch.cat([torch.randperm(len(train_idx), generator=g) for _ in range(cfg["repeats"])])
        return [train_idx[b] for b in order.split(cfg["batch_size"])]

    def step(m: CSDI, idx: torch.Tensor) -> torch.Tensor:
        hidden = hide_mask(observed[idx, 0].bool(), months_per_year, cfg["well_observed_months"], cfg["hide_per_year"])
        xb, ob, cb = (t.to(dev) for t in (x[idx], observed[idx], _cond(observed[idx], hidden)))
        return m.loss(xb, ob, cb)

    def validate(m: CSDI) -> float:
        # Every diffusion step for every validation series (fixed masks and noise): one random step per series
        # makes the loss of a few validation sites too noisy for early stopping.
        idx = val_idx if len(val_idx) else train_idx
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(seed, "csdi-val") % 2**31)
            rep = idx.repeat(model.cfg.num_steps)
            t = torch.arange(model.cfg.num_steps).repeat_interleave(len(idx)).to(dev)
            hidden = hide_mask(
                observed[rep, 0].bool(), months_per_year, cfg["well_observed_months"], cfg["hide_per_year"]
            )
            xb, ob, cb = (v.to(dev) for v in (x[rep], observed[rep], _cond(observed[rep], hidden)))
            return float(m.loss(xb, ob, cb, t=t))

    return model, engine.fit(batches, step, validate)


def impute(
    model: CSDI, x: torch.Tensor, cond: torch.Tensor, cfg: dict, generator: torch.Generator, batch: int = 16
) -> torch.Tensor:
    """Samples of the flux channel [S, B, L] (normalised), sites in batches of ``batch``, samples batched."""
    model.eval()
    dev = next(model.parameters()).device
    outs = []
    for i in range(0, x.shape[0], batch):
        s = sample(
            model,
            x[i : i + batch].to(dev),
            cond[i : i + batch].to(dev),
            cfg["n_samples"],
            generator,
            cfg["sampler"],
            cfg["ddim_steps"],
            cfg["ddim_eta"],
        )
        outs.append(s[:, :, 0].float().cpu())
    return torch.cat(outs, 1)


def hold_out(
    model: CSDI,
    x: torch.Tensor,
    observed: torch.Tensor,
    idx: torch.Tensor,
    cfg: dict,
    months_per_year: int,
    mean: float,
    std: float,
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hide observed points of the sites ``idx`` (the training rule, fixed seed) and impute them.

    Returns samples [N, B, L] in physical units (given points equal the data) and hidden [B, L] bool."""
    g = make_generator(derive_seed(seed, "csdi-test"))
    hidden = hide_mask(observed[idx, 0].bool(), months_per_year, cfg["well_observed_months"], cfg["hide_per_year"], g)
    samples = impute(model, x[idx], _cond(observed[idx], hidden), cfg, g) * std + mean
    return samples, hidden


def holdout_scores(samples: np.ndarray, flux: np.ndarray, hidden: np.ndarray, months_per_year: int, point: str) -> dict:
    """Scores at the hidden points: samples [N, B, L] and observations ``flux`` [B, L] (physical, NaN at gaps),
    hidden [B, L] bool. :func:`~terraflux.metrics.ensemble_metrics` of the samples and their ``point``
    estimate; ``"baselines"``: :func:`~terraflux.metrics.point_metrics` of each of :func:`baseline_estimates`."""
    observation = flux[hidden]
    at = samples[:, hidden]
    scores = ensemble_metrics(at, observation, point_estimate(at, point))
    estimates = baseline_estimates(flux, hidden, months_per_year) if hidden.any() else {}
    scores["baselines"] = {name: point_metrics(est[hidden], observation) for name, est in estimates.items()}
    return scores


def baseline_estimates(flux: np.ndarray, hidden: np.ndarray, months_per_year: int) -> dict[str, np.ndarray]:
    """Simple imputations CSDI must beat. flux [B, L] physical with NaN gaps, hidden [B, L] bool ->
    {"seasonal_cycle": site mean of each calendar month, "linear": linear interpolation in time} [B, L],
    both from the points neither gap nor hidden (a site without any falls back to the mean of all sites)."""
    y = np.where(hidden, np.nan, flux).astype(np.float64)
    b, length = y.shape
    fallback = np.nanmean(y) if np.isfinite(y).any() else 0.0
    by_month = y.reshape(b, length // months_per_year, months_per_year)
    counts = np.isfinite(by_month).sum(1)
    cycle = np.where(counts > 0, np.nansum(by_month, 1) / np.maximum(counts, 1), np.nan)  # [B, months]
    cycle = np.where(
        np.isfinite(cycle), cycle, np.nanmean(cycle, 1, keepdims=True) if np.isfinite(cycle).any() else fallback
    )
    cycle = np.where(np.isfinite(cycle), cycle, fallback)
    t = np.arange(length)
    linear = np.stack(
        [
            np.interp(t, t[np.isfinite(r)], r[np.isfinite(r)]) if np.isfinite(r).any() else np.full(length, fallback)
            for r in y
        ]
    )
    return {"seasonal_cycle": np.tile(cycle, length // months_per_year), "linear": linear}


def expanded_labels(flux: np.ndarray, samples: np.ndarray, point: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step 5b. flux [S, L] physical with NaN gaps, samples [N, S, L] physical ->
    labels (observed value, else sample mean/median), std (0 at observed months), imputed mask [S, L]."""
    observed = np.isfinite(flux)
    labels = np.where(observed, flux, point_estimate(samples, point)).astype(np.float32)
    std = np.where(observed, 0.0, samples.std(0)).astype(np.float32)
    return labels, std, ~observed
