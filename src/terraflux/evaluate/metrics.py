"""Point metrics, anomaly skill, CRPS and grouped skill tables.

All functions ignore pairs where the prediction or the observation is NaN, so they can be applied to
in-situ series with gaps. Units follow the inputs (fluxes: gC m-2 d-1); R2, NSE are unitless.

Definitions (p prediction, o observation, over valid pairs):

- ``rmse`` = sqrt(mean((p - o)^2)), ``mae`` = mean|p - o|, ``bias`` = mean(p - o)
- ``r2`` = squared Pearson correlation of p and o (how much of the variation is captured, any scale)
- ``nse`` = 1 - sum((p - o)^2) / sum((o - mean o)^2) (Nash-Sutcliffe efficiency; 1 perfect, 0 = climatology)
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

METRICS = ("n", "rmse", "mae", "r2", "nse", "bias")


def _valid_pairs(pred, obs) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64).ravel()
    obs = np.asarray(obs, dtype=np.float64).ravel()
    if pred.shape != obs.shape:
        raise ValueError(f"prediction and observation differ in size: {pred.shape} vs {obs.shape}")
    ok = np.isfinite(pred) & np.isfinite(obs)
    return pred[ok], obs[ok]


def point_metrics(pred, obs) -> dict[str, float]:
    """RMSE, MAE, R2, NSE, bias and the number of valid pairs ``n`` of two arrays of the same size.

    Metrics that need variance (R2, NSE) are NaN when fewer than 2 pairs or a constant observation.
    """
    p, o = _valid_pairs(pred, obs)
    n = p.size
    out = {"n": float(n), "rmse": np.nan, "mae": np.nan, "r2": np.nan, "nse": np.nan, "bias": np.nan}
    if n == 0:
        return out
    err = p - o
    out["rmse"] = float(np.sqrt(np.mean(err**2)))
    out["mae"] = float(np.mean(np.abs(err)))
    out["bias"] = float(np.mean(err))
    if n >= 2:
        ss_obs = float(np.sum((o - o.mean()) ** 2))
        if ss_obs > 0:
            out["nse"] = 1.0 - float(np.sum(err**2)) / ss_obs
            sp = float(np.std(p))
            if sp > 0:
                out["r2"] = float(np.corrcoef(p, o)[0, 1] ** 2)
    return out


def seasonal_anomalies(frame: pd.DataFrame, columns: Sequence[str], *, by: str = "site_id", time: str = "time") -> pd.DataFrame:
    """Monthly anomalies: subtract each site's mean seasonal cycle (mean per calendar month).

    The cycle of every column is computed over the rows where *all* ``columns`` are valid, so prediction
    and observation anomalies refer to the same months. Returns a copy with ``columns`` replaced by
    anomalies (NaN where any column is missing or a calendar month has a single value at that site,
    whose anomaly would be zero by construction).
    """
    out = frame.copy()
    valid = out[list(columns)].notna().all(axis=1)
    out.loc[~valid, list(columns)] = np.nan
    month = pd.to_datetime(out[time]).dt.month
    keys = [out[by], month]
    grouped = out[list(columns)].groupby(keys)
    cycle = grouped.transform("mean")
    count = grouped[columns[0]].transform("count")
    anomalies = out[list(columns)] - cycle
    anomalies[count < 2] = np.nan
    out[list(columns)] = anomalies
    return out


def skill_table(
    pairs: pd.DataFrame,
    *,
    groups: Iterable[str] = ("network", "igbp"),
    keys: Sequence[str] = ("model", "variable"),
    pred: str = "prediction",
    obs: str = "observation",
    anomalies: bool = True,
) -> pd.DataFrame:
    """Skill of every (model, variable) overall and per group value (network, IGBP class, ...).

    ``pairs`` is a long table with columns ``site_id``, ``time``, ``keys``, the ``groups`` columns, and
    ``pred`` / ``obs``. Returns one row per (keys, group, group value) with columns ``group`` ('all',
    'network', 'igbp', ...), ``group_value``, the metrics of :func:`point_metrics`, and, with
    ``anomalies``, the same metrics of the monthly anomalies prefixed ``anom_``.
    """
    frame = pairs.copy()
    if anomalies:
        parts = []
        for _, block in frame.groupby(list(keys), sort=False):
            block = block.copy()
            anom = seasonal_anomalies(block, [pred, obs])
            block["anom_pred"] = anom[pred].to_numpy()
            block["anom_obs"] = anom[obs].to_numpy()
            parts.append(block)
        frame = pd.concat(parts) if parts else frame
    rows = []
    group_list = ["all", *groups]
    for key_values, block in frame.groupby(list(keys), sort=True):
        key_values = key_values if isinstance(key_values, tuple) else (key_values,)
        for group in group_list:
            subsets = [("all", block)] if group == "all" else sorted(block.groupby(group), key=lambda kv: str(kv[0]))
            for value, sub in subsets:
                row = dict(zip(keys, key_values))
                row.update({"group": group, "group_value": str(value), "n_sites": sub["site_id"].nunique()})
                row.update(point_metrics(sub[pred], sub[obs]))
                if anomalies:
                    row.update({f"anom_{k}": v for k, v in point_metrics(sub["anom_pred"], sub["anom_obs"]).items()})
                rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------- CRPS


def crps_ensemble(samples, obs) -> np.ndarray:
    """Exact CRPS of an ensemble per point: E|X - y| - E|X - X'| / 2 over the empirical distribution.

    ``samples``: [S, ...] ensemble members; ``obs``: [...]. Returns [...] in the units of ``obs``
    (NaN where ``obs`` or any member is NaN). O(S log S) per point via sorted members.
    """
    x = np.sort(np.asarray(samples, dtype=np.float64), axis=0)
    y = np.asarray(obs, dtype=np.float64)
    s = x.shape[0]
    term1 = np.mean(np.abs(x - y[None]), axis=0)
    weights = (2.0 * np.arange(1, s + 1) - s - 1).reshape((s,) + (1,) * y.ndim)
    mean_abs_diff = 2.0 * np.sum(weights * x, axis=0) / (s * s)
    out = term1 - 0.5 * mean_abs_diff
    return np.where(np.isfinite(y) & np.all(np.isfinite(x), axis=0), out, np.nan)


def crps_gaussian(mean, std, obs) -> np.ndarray:
    """Closed-form CRPS of a normal distribution N(mean, std^2) for observation ``obs`` (elementwise)."""
    from scipy.stats import norm

    mean, std, obs = (np.asarray(a, dtype=np.float64) for a in (mean, std, obs))
    std = np.maximum(std, 1e-12)
    z = (obs - mean) / std
    return std * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / np.sqrt(np.pi))


def crps_quantiles(samples, obs, n_quantiles: int = 19) -> tuple[float, float]:
    """CRPS approximated by the pinball loss at ``n_quantiles`` levels (0.05 .. 0.95 for 19), as used
    to score CSDI imputations.

    ``samples``: [S, N]; ``obs``: [N] (NaN points skipped). Returns ``(raw, normalised)``: the mean CRPS
    per point in the units of ``obs``, and the sum of CRPS divided by sum|obs| (the usual normalisation,
    unstable when obs is near zero, e.g. NEE: report both).
    """
    x = np.asarray(samples, dtype=np.float64)
    y = np.asarray(obs, dtype=np.float64)
    x = x.reshape(x.shape[0], -1)
    y = y.ravel()
    ok = np.isfinite(y) & np.all(np.isfinite(x), axis=0)
    x, y = x[:, ok], y[ok]
    if y.size == 0:
        return float("nan"), float("nan")
    levels = np.arange(1, n_quantiles + 1) / (n_quantiles + 1)
    q = np.quantile(x, levels, axis=0)  # [Q, N]
    pinball = 2.0 * np.abs((y[None] - q) * ((y[None] <= q) - levels[:, None]))
    per_point = pinball.mean(axis=0)
    denom = np.sum(np.abs(y))
    return float(per_point.mean()), float(per_point.sum() / denom) if denom > 0 else float("nan")
