"""Skill metrics on observed points only, in physical units: RMSE, MAE, R2 (squared correlation), NSE, bias."""

from __future__ import annotations

import numpy as np


def scores(pred: np.ndarray, obs: np.ndarray) -> dict[str, float]:
    """Scores over points where both are finite; NaN scores when fewer than 2 points."""
    pred, obs = np.asarray(pred, np.float64).ravel(), np.asarray(obs, np.float64).ravel()
    ok = np.isfinite(pred) & np.isfinite(obs)
    n = int(ok.sum())
    if n < 2:
        return {"n": n, "rmse": float("nan"), "mae": float("nan"), "r2": float("nan"), "nse": float("nan"), "bias": float("nan")}
    p, o = pred[ok], obs[ok]
    err = p - o
    sst = ((o - o.mean()) ** 2).sum()
    corr = np.corrcoef(p, o)[0, 1] if p.std() > 0 and o.std() > 0 else float("nan")
    return {
        "n": n,
        "rmse": float(np.sqrt((err**2).mean())),
        "mae": float(np.abs(err).mean()),
        "r2": float(corr**2),
        "nse": float(1 - (err**2).sum() / sst) if sst > 0 else float("nan"),
        "bias": float(err.mean()),
    }


def site_scores(pred: np.ndarray, obs: np.ndarray, fluxes: list[str], networks: np.ndarray, igbp: np.ndarray) -> dict:
    """pred/obs [S, T, K]: scores per flux overall, per network and per IGBP class."""
    out: dict = {"all": {f: scores(pred[..., k], obs[..., k]) for k, f in enumerate(fluxes)}, "network": {}, "igbp": {}}
    for key, labels in (("network", networks), ("igbp", igbp)):
        for label in sorted(set(labels.tolist())):
            sel = labels == label
            out[key][label] = {f: scores(pred[sel][..., k], obs[sel][..., k]) for k, f in enumerate(fluxes)}
    return out


def residual_summary(residuals: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Mean absolute and max absolute value of each physics residual."""
    return {k: {"mean_abs": float(np.nanmean(np.abs(v))), "max_abs": float(np.nanmax(np.abs(v)))} for k, v in residuals.items()}
