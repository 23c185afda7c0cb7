"""Scores of downscaled series against the fine truth: point skill per variable and season, spatial
structure (semivariogram fits, with :mod:`terraflux.evaluate.semivariogram`), temporal structure (ACF and
lag-k curves, :mod:`terraflux.evaluate.temporal`), skill by lead time after the training period and, for an
ensemble, its CRPS (:mod:`terraflux.metrics`).

Fields are [time, variable, y, x] in the fine store's units, NaN outside the fine grid's mask.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from terraflux import metrics
from terraflux.evaluate.semivariogram import GridGeometry, compare_structure
from terraflux.evaluate.temporal import compare_temporal
from terraflux.spatial.downscale_data import seasons

import numpy as np
import pandas as pd


def geometry(kind: str, y, x) -> GridGeometry:
    """The semivariogram geometry of a dataset's fine grid (``grid_kind``, 1-D ``y``, ``x``)."""
    return GridGeometry(kind, np.asarray(y), np.asarray(x))


def skill_by_season(pred, truth, times, names: Sequence[str], select) -> list[dict]:
    """Point metrics (RMSE, R2, ...) per variable and season (and ``all``) over the times ``select`` [time]."""
    season = seasons(np.asarray(times))
    rows = []
    for k, name in enumerate(names):
        for label in ["all", *sorted(set(season[select].tolist()))]:
            pick = select & ((season == label) if label != "all" else True)
            rows.append({"variable": name, "season": label, **metrics.point_metrics(pred[pick, k], truth[pick, k])})
    return rows


def skill_by_lead(pred, truth, names: Sequence[str], last_train: int, block: int) -> list[dict]:
    """Point metrics per variable over blocks of ``block`` time steps after the last training step
    ``last_train`` (lead 1..block is block 1, and so on); ``lead_start`` is the block's first lead."""
    rows = []
    n = pred.shape[0]
    for start in range(last_train + 1, n, block):
        stop = min(start + block, n)
        for k, name in enumerate(names):
            scores = metrics.point_metrics(pred[start:stop, k], truth[start:stop, k])
            rows.append({"variable": name, "lead_start": start - last_train, **scores})
    return rows


def structure(pred, truth, names: Sequence[str], grid: GridGeometry, select, cfg: Mapping) -> dict:
    """Per variable, :func:`compare_structure` (semivariograms pooled over the times ``select``, fits and
    their range/sill/nugget ratios to the truth) merged with :func:`compare_temporal` (ACF of the region
    mean, lag-k curves) over the same times; ``cfg``: config ``downscale.evaluate``."""
    out = {}
    for k, name in enumerate(names):
        p, t = pred[select, k], truth[select, k]
        spatial = compare_structure(
            p, t, grid, n_bins=int(cfg["n_bins"]), max_distance_km=cfg["max_distance_km"] or None, model=cfg["model"]
        )
        out[name] = {**spatial, **compare_temporal(p, t, int(cfg["max_lag"]))}
    return out


def structure_rows(model: str, results: Mapping) -> list[dict]:
    """One table row per variable of :func:`structure`'s results: D, fitted ranges and ratios, ACF error."""
    rows = []
    for name, res in results.items():
        rows.append(
            {
                "model": model,
                "variable": name,
                "D": res["D"],
                "range_ratio": res["ratios"]["range"],
                "sill_ratio": res["ratios"]["sill"],
                "nugget_ratio": res["ratios"]["nugget"],
                "range_km": res["fit_pred"]["range_km"],
                "range_km_truth": res["fit_ref"]["range_km"],
                "acf_rmse": res["acf_rmse"],
                "decorrelation": res["decorrelation_pred"],
                "decorrelation_truth": res["decorrelation_ref"],
            }
        )
    return rows


def ensemble_crps(members, truth, names: Sequence[str], select) -> dict[str, float]:
    """Mean exact CRPS per variable of an ensemble [member, time, variable, y, x] over the times ``select``."""
    out = {}
    for k, name in enumerate(names):
        crps = metrics.crps_ensemble(members[:, select, k], truth[select, k])
        out[name] = float(np.nanmean(crps)) if np.isfinite(crps).any() else float("nan")
    return out


def skill_frame(rows: list[dict], model: str) -> pd.DataFrame:
    """Rows as a table with the model's name first."""
    frame = pd.DataFrame(rows)
    frame.insert(0, "model", model)
    return frame
