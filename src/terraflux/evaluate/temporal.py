"""Temporal structure of map series: ACF of the region-mean series and lag-k RMSE / R2 curves.

Inputs are stacks [t, y, x] with NaN gaps. A downscaled or predicted series should keep the reference's
memory: its region-mean autocorrelation and how fast a map decorrelates from the map k steps earlier.
"""

from __future__ import annotations

import numpy as np


def region_mean(stack, weights=None) -> np.ndarray:
    """Mean over valid cells per time step [t] (``weights`` [y, x], e.g. cos(latitude), optional)."""
    z = np.asarray(stack, dtype=np.float64)
    w = np.ones(z.shape[1:]) if weights is None else np.broadcast_to(np.asarray(weights, dtype=np.float64), z.shape[1:])
    ok = np.isfinite(z)
    num = np.where(ok, z, 0.0) * w
    den = ok * w
    with np.errstate(invalid="ignore", divide="ignore"):
        return num.sum(axis=(1, 2)) / den.sum(axis=(1, 2))


def acf(series, max_lag: int) -> np.ndarray:
    """Sample autocorrelation at lags 0..max_lag (NaN steps skipped pairwise; the usual biased estimator
    normalised by the lag-0 variance). Returns [max_lag + 1]."""
    x = np.asarray(series, dtype=np.float64)
    x = x - np.nanmean(x)
    var = np.nanmean(x * x)
    out = np.full(max_lag + 1, np.nan)
    n = x.size
    for k in range(min(max_lag, n - 1) + 1):
        prod = x[: n - k] * x[k:]
        ok = np.isfinite(prod)
        if ok.any() and var > 0:
            out[k] = np.sum(prod[ok]) / n / var
    return out


def decorrelation_lag(acf_values) -> float:
    """First lag where the ACF drops below 1/e (linear interpolation); NaN if it never does."""
    a = np.asarray(acf_values, dtype=np.float64)
    threshold = np.exp(-1.0)
    below = np.nonzero(a < threshold)[0]
    if below.size == 0:
        return float("nan")
    k = int(below[0])
    if k == 0:
        return 0.0
    a0, a1 = a[k - 1], a[k]
    return float(k - 1 + (a0 - threshold) / (a0 - a1))


def lag_curves(stack, max_lag: int) -> dict[str, np.ndarray]:
    """RMSE and R2 between the map at t and the map at t - k, pooled over t and valid cells, k = 1..max_lag.

    Returns ``{"lag": [K], "rmse": [K] (units of the field), "r2": [K] (squared Pearson correlation)}``.
    """
    z = np.asarray(stack, dtype=np.float64)
    lags = np.arange(1, max_lag + 1)
    rmse = np.full(lags.size, np.nan)
    r2 = np.full(lags.size, np.nan)
    for i, k in enumerate(lags):
        if k >= z.shape[0]:
            break
        a, b = z[k:].ravel(), z[:-k].ravel()
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() < 2:
            continue
        a, b = a[ok], b[ok]
        rmse[i] = np.sqrt(np.mean((a - b) ** 2))
        if a.std() > 0 and b.std() > 0:
            r2[i] = np.corrcoef(a, b)[0, 1] ** 2
    return {"lag": lags, "rmse": rmse, "r2": r2}


def compare_temporal(pred, ref, max_lag: int, weights=None) -> dict:
    """ACF, decorrelation lag and lag-k curves of prediction and reference under the cells valid in both.

    Returns ``{"acf_pred", "acf_ref", "decorrelation_pred", "decorrelation_ref", "acf_rmse",
    "lag_pred", "lag_ref"}`` (arrays as lists are left to the caller).
    """
    pred = np.asarray(pred, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    both = np.isfinite(pred) & np.isfinite(ref)
    pred, ref = np.where(both, pred, np.nan), np.where(both, ref, np.nan)
    a_p = acf(region_mean(pred, weights), max_lag)
    a_r = acf(region_mean(ref, weights), max_lag)
    return {
        "acf_pred": a_p,
        "acf_ref": a_r,
        "decorrelation_pred": decorrelation_lag(a_p),
        "decorrelation_ref": decorrelation_lag(a_r),
        "acf_rmse": float(np.sqrt(np.nanmean((a_p[1:] - a_r[1:]) ** 2))) if max_lag > 0 else float("nan"),
        "lag_pred": lag_curves(pred, max_lag),
        "lag_ref": lag_curves(ref, max_lag),
    }
