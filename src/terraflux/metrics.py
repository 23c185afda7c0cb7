"""The one metrics library: point metrics, skill tables, CRPS of ensembles, binary (confusion) metrics.

Model stages and evaluation both score with these functions, so a stage's score and an evaluation table
computed from the same pairs are the same number.

Rules (the same for every caller):

- Valid pairs: point metrics use the pairs where prediction and observation are both finite (NaN or inf
  is a gap, dropped from both); ``n`` is their count (an int). Prediction and observation must have the
  same number of elements.
- Undefined is NaN: RMSE, MAE and bias with no valid pair; R2 and NSE with fewer than 2 valid pairs or a
  constant observation (R2 also with a constant prediction); a binary ratio whose denominator is 0; CRPS
  with no valid point. JSON outputs write NaN as null (:func:`terraflux.outputs.jsonable`).
- Units follow the inputs (fluxes: gC m-2 d-1); R2, NSE and binary ratios are unitless (1).

Point metrics (p prediction, o observation over the valid pairs, ō = mean(o)):

- ``rmse`` = sqrt(mean((p - o)^2)), ``mae`` = mean|p - o|, ``bias`` = mean(p - o)
- ``r2`` = squared Pearson correlation of p and o (the share of the variation captured, at any scale)
- ``nse`` = 1 - sum((p - o)^2) / sum((o - ō)^2), the Nash-Sutcliffe efficiency (Nash and Sutcliffe 1970,
  J. Hydrol. 10: 282-290): 1 perfect, 0 no better than the observed mean

Ensembles (samples X_1..X_S of one quantity, observation y), for probabilistic labels:

- ``crps`` (:func:`crps_ensemble`): the continuous ranked probability score of the empirical distribution,
  E|X - y| - E|X - X'| / 2 (Gneiting and Raftery 2007, JASA 102: 359-378), in the units of y;
- ``crps_quantile`` (:func:`crps_quantiles`): CRPS approximated by twice the pinball loss averaged over
  the 19 quantile levels 0.05 .. 0.95, in the units of y, and ``crps_quantile_normalised``: its sum over
  points divided by sum|y| (the score reported for CSDI, Tashiro et al. 2021, NeurIPS; unstable when y is
  near zero, e.g. NEE: report both);
- the point estimate of an ensemble (:func:`point_estimate`) is its median (the mean of the two middle
  members for an even count) or its mean.

Binary metrics (TP, FP, FN, TN counted over valid pixels, :class:`Confusion`): precision = TP / (TP + FP),
recall = TP / (TP + FN), F1 = 2 TP / (2 TP + FP + FN), IoU = TP / (TP + FP + FN), overall accuracy =
(TP + TN) / (TP + FP + FN + TN).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

METRICS = ("n", "rmse", "mae", "r2", "nse", "bias")
QUANTILE_LEVELS = 19


# ------------------------------------------------------------------------------------------ point metrics


def _valid_pairs(pred, obs) -> tuple[np.ndarray, np.ndarray]:
    """The finite pairs of two arrays of the same size, flattened, as float64."""
    pred = np.asarray(pred, dtype=np.float64).ravel()
    obs = np.asarray(obs, dtype=np.float64).ravel()
    if pred.shape != obs.shape:
        raise ValueError(f"prediction and observation differ in size: {pred.shape} vs {obs.shape}")
    ok = np.isfinite(pred) & np.isfinite(obs)
    return pred[ok], obs[ok]


def point_metrics(pred, obs) -> dict[str, float]:
    """``n``, RMSE, MAE, R2, NSE and bias of two arrays of the same size (see the module docstring)."""
    p, o = _valid_pairs(pred, obs)
    n = int(p.size)
    out = {"n": n, "rmse": np.nan, "mae": np.nan, "r2": np.nan, "nse": np.nan, "bias": np.nan}
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
            if float(np.std(p)) > 0:
                out["r2"] = float(np.corrcoef(p, o)[0, 1] ** 2)
    return out


def grouped_metrics(pred, obs, names: Sequence[str], groups: Mapping[str, np.ndarray]) -> dict:
    """Point metrics of each variable, overall and per group value.

    ``pred``, ``obs``: [N, ..., K] with the K variables ``names`` last; ``groups``: group name -> labels [N]
    of the first axis (e.g. each site's network). Returns ``{"all": {name: metrics}, group: {label:
    {name: metrics}}}`` with labels in sorted order.
    """
    pred, obs = np.asarray(pred), np.asarray(obs)

    def per_name(sel) -> dict:
        return {name: point_metrics(pred[sel][..., k], obs[sel][..., k]) for k, name in enumerate(names)}

    out: dict = {"all": per_name(slice(None))}
    for group, labels in groups.items():
        labels = np.asarray(labels)
        out[group] = {str(label): per_name(labels == label) for label in sorted(set(labels.tolist()))}
    return out


def seasonal_anomalies(
    frame: pd.DataFrame, columns: Sequence[str], *, by: str = "site_id", time: str = "time"
) -> pd.DataFrame:
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
    'network', 'igbp', ...), ``group_value``, ``n_sites``, the metrics of :func:`point_metrics`, and, with
    ``anomalies``, the same metrics of the monthly anomalies (:func:`seasonal_anomalies`) prefixed ``anom_``.
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
                row = dict(zip(keys, key_values, strict=True))
                row.update({"group": group, "group_value": str(value), "n_sites": sub["site_id"].nunique()})
                row.update(point_metrics(sub[pred], sub[obs]))
                if anomalies:
                    row.update({f"anom_{k}": v for k, v in point_metrics(sub["anom_pred"], sub["anom_obs"]).items()})
                rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------- ensembles


def point_estimate(samples, point: str) -> np.ndarray:
    """The point estimate of an ensemble ``samples`` [S, ...] -> [...]: ``median`` or ``mean``, in the
    samples' dtype."""
    x = np.asarray(samples)
    if point == "median":
        return np.median(x, axis=0)
    if point == "mean":
        return np.mean(x, axis=0)
    raise ValueError(f"point estimate must be 'median' or 'mean', not {point!r}")


def crps_ensemble(samples, obs) -> np.ndarray:
    """Exact CRPS of an ensemble per point: E|X - y| - E|X - X'| / 2 over the empirical distribution.

    ``samples``: [S, ...] ensemble members; ``obs``: [...]. Returns [...] in the units of ``obs``
    (NaN where ``obs`` or any member is not finite). O(S log S) per point via sorted members.
    """
    x = np.sort(np.asarray(samples, dtype=np.float64), axis=0)
    y = np.asarray(obs, dtype=np.float64)
    s = x.shape[0]
    term1 = np.mean(np.abs(x - y[None]), axis=0)
    weights = (2.0 * np.arange(1, s + 1) - s - 1).reshape((s,) + (1,) * y.ndim)
    mean_abs_diff = 2.0 * np.sum(weights * x, axis=0) / (s * s)
    out = term1 - 0.5 * mean_abs_diff
    return np.where(np.isfinite(y) & np.all(np.isfinite(x), axis=0), out, np.nan)


def crps_quantiles(samples, obs, n_quantiles: int = QUANTILE_LEVELS) -> tuple[float, float]:
    """CRPS approximated by twice the pinball loss at ``n_quantiles`` levels (0.05 .. 0.95 for 19).

    ``samples``: [S, N]; ``obs``: [N] (points where ``obs`` or a member is not finite are skipped). Returns
    ``(raw, normalised)``: the mean over points in the units of ``obs``, and the sum over points divided by
    sum|obs| (NaN when that is 0).
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


def ensemble_metrics(samples, obs, point) -> dict[str, float]:
    """Scores of an ensemble ``samples`` [S, N] and its point estimate ``point`` [N] against ``obs`` [N]:
    the :func:`point_metrics` of the point estimate, ``crps`` (mean exact CRPS over the valid points),
    ``crps_quantile`` and ``crps_quantile_normalised`` (:func:`crps_quantiles`)."""
    samples = np.asarray(samples, dtype=np.float64).reshape(np.shape(samples)[0], -1)
    obs = np.asarray(obs, dtype=np.float64).ravel()
    out = point_metrics(point, obs)
    per_point = crps_ensemble(samples, obs)
    out["crps"] = float(np.mean(per_point[np.isfinite(per_point)])) if np.isfinite(per_point).any() else float("nan")
    out["crps_quantile"], out["crps_quantile_normalised"] = crps_quantiles(samples, obs)
    return out


# ----------------------------------------------------------------------------------------- binary metrics


@dataclass
class Confusion:
    """Confusion counts of binary masks, accumulated over calls of :meth:`add`."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, pred: np.ndarray, truth: np.ndarray, valid: np.ndarray | None = None) -> Confusion:
        """Count ``pred`` against ``truth`` (same shape, bool) where ``valid`` (broadcast to them) is true."""
        pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
        if valid is not None:
            valid = np.broadcast_to(np.asarray(valid, bool), pred.shape)
            pred, truth = pred[valid], truth[valid]
        self.tp += int(np.count_nonzero(pred & truth))
        self.fp += int(np.count_nonzero(pred & ~truth))
        self.fn += int(np.count_nonzero(~pred & truth))
        self.tn += int(np.count_nonzero(~pred & ~truth))
        return self

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)

    def as_dict(self) -> dict:
        """precision, recall, f1, iou, overall_accuracy (NaN where undefined) and the four counts."""
        tp, fp, fn, tn = self.tp, self.fp, self.fn, self.tn

        def ratio(a: int, b: int) -> float:
            return a / b if b else float("nan")

        return {
            "precision": ratio(tp, tp + fp),
            "recall": ratio(tp, tp + fn),
            "f1": ratio(2 * tp, 2 * tp + fp + fn),
            "iou": ratio(tp, tp + fp + fn),
            "overall_accuracy": ratio(tp + tn, tp + fp + fn + tn),
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "tn": tn,
        }


def binary_metrics(pred: np.ndarray, truth: np.ndarray, valid: np.ndarray | None = None) -> dict:
    """The metrics of :meth:`Confusion.as_dict` of one pair of masks."""
    return Confusion().add(pred, truth, valid).as_dict()


def driver_metrics(pred: np.ndarray, truth: np.ndarray, variables: list[str], valid: np.ndarray | None = None) -> dict:
    """Per-variable and pooled binary metrics of driver masks [V, weeks, H, W]; ``valid`` [weeks, H, W]."""
    per = {name: Confusion().add(pred[v], truth[v], valid) for v, name in enumerate(variables)}
    pooled = Confusion()
    for c in per.values():
        pooled = pooled + c
    return {"pooled": pooled.as_dict(), "per_variable": {k: c.as_dict() for k, c in per.items()}}
