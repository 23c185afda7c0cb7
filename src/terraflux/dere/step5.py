"""DERE step 5 as a function: the CSDI of one flux trained on the in-situ site series (:mod:`terraflux.csdi`).

Kept apart from :mod:`terraflux.dere.stages` so that only step 5 depends on the CSDI code.
"""

from __future__ import annotations

from dataclasses import dataclass

from terraflux.csdi import impute
from terraflux.csdi.model import CSDI
from terraflux.dere.dataset import DereTensors
from terraflux.dere.stages import Context
from terraflux.train import FitResult, derive_seed

import torch


@dataclass
class Step5Fit:
    """Step 5 for one flux: the trained CSDI, its fit, the normalised site series ``x`` [S, 1 + F, L] with
    ``observed`` [S, 1 + F, L] (:func:`terraflux.csdi.impute.series`) and the flux's in-situ ``mean`` and ``std``
    (gC m-2 d-1) that normalise it."""

    model: CSDI
    fit: FitResult
    x: torch.Tensor
    observed: torch.Tensor
    mean: float
    std: float


def fit(data: DereTensors, cfg: dict, ctx: Context, flux: str, drivers: torch.Tensor) -> Step5Fit:
    """Train the CSDI of ``flux`` on the training sites' series (validation sites for early stopping) with the
    site drivers ``drivers`` [S, L, F'] (config ``dere.csdi.drivers``), seed derived from the context's and
    the flux."""
    k = data.fluxes.index(flux)
    mean, std = float(data.insitu_mean[k]), float(data.insitu_std[k])
    x, observed = impute.series(data.insitu[..., k], mean, std, drivers)
    model, fit = impute.train(
        x,
        observed,
        data.sites("train"),
        data.sites("val"),
        cfg["csdi"],
        cfg["train"],
        data.months_per_year,
        device=ctx.device,
        seed=derive_seed(ctx.seed, flux),
        resume_path=ctx.resume_dir / f"csdi_{flux}.pt",
        fingerprint=ctx.fingerprint,
    )
    return Step5Fit(model, fit, x, observed, mean, std)
