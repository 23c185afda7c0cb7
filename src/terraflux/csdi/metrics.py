"""Probabilistic scores of imputation samples: CRPS by quantile loss (normalised and raw), MAE, RMSE."""

from __future__ import annotations

import torch

QUANTILES = torch.arange(1, 20, dtype=torch.float64) / 20  # 0.05 .. 0.95, as in the CSDI reference


def _quantile_losses(samples: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """samples [S, N], target [N] -> summed quantile loss per quantile [Q] (twice the pinball loss)."""
    q = QUANTILES.to(samples.device)
    pred = torch.quantile(samples.double(), q, dim=0)  # [Q, N]
    t = target.double()[None]
    return 2 * ((t - pred) * ((t <= pred).double() - q[:, None])).abs().sum(1)


def crps(samples: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """CRPS over evaluation points: ``normalised`` = mean_q(loss_q / sum|target|) (the reference's score),
    ``raw`` = mean_q(loss_q / N) in the target's units (meaningful for NEE, which is near zero)."""
    if target.numel() == 0:
        return {"normalised": float("nan"), "raw": float("nan")}
    losses = _quantile_losses(samples, target)
    return {"normalised": float((losses / target.double().abs().sum().clamp_min(1e-12)).mean()), "raw": float((losses / target.numel()).mean())}


def imputation_scores(samples: torch.Tensor, target: torch.Tensor, point: str = "median") -> dict[str, float]:
    """samples [S, N] and target [N] at hidden observed points, physical units."""
    est = samples.median(0).values if point == "median" else samples.mean(0)
    err = (est - target).double()
    out = {"n": int(target.numel()), "mae": float(err.abs().mean()) if len(err) else float("nan"), "rmse": float(err.pow(2).mean().sqrt()) if len(err) else float("nan")}
    c = crps(samples, target)
    out.update({"crps": c["normalised"], "crps_raw": c["raw"]})
    return out
