"""The benchmark table: models and baselines, same data, same metrics (driver and extremes).

Drivers are scored over the held-out (test) weeks, pooled over variables and valid pixels; the baselines are
those of :mod:`terraflux.ide.baselines`.
"""

from __future__ import annotations

import csv
from pathlib import Path

from terraflux.ide.baselines import isolation_forest_drivers, naive_drivers
from terraflux.ide.dataset import SPLITS
from terraflux.ide.windows import WindowData
from terraflux.metrics import driver_metrics

import numpy as np

COLUMNS = (
    "method",
    "driver_f1",
    "driver_iou",
    "driver_precision",
    "driver_recall",
    "driver_overall_accuracy",
    "extremes_f1",
    "extremes_iou",
)


def table_row(method: str, drivers: dict, extremes: dict | None) -> dict:
    """One row of :data:`COLUMNS`: pooled driver metrics and, for methods that predict them, extremes F1/IoU."""
    pooled = drivers["pooled"]
    return {
        "method": method,
        "driver_f1": pooled["f1"],
        "driver_iou": pooled["iou"],
        "driver_precision": pooled["precision"],
        "driver_recall": pooled["recall"],
        "driver_overall_accuracy": pooled["overall_accuracy"],
        "extremes_f1": extremes["f1"] if extremes else None,
        "extremes_iou": extremes["iou"] if extremes else None,
    }


def held_out_weeks(data: WindowData) -> np.ndarray:
    """Weeks of the test split (every one is covered by the test windows)."""
    return np.flatnonzero(data.split == SPLITS["test"])


def baseline_rows(
    data: WindowData, truth: np.ndarray, params: dict, seed: int, threads: int | None, deepmil_pred: dict | None
) -> tuple[list[dict], dict]:
    """Rows and full metrics of the naive threshold, isolation forest and (given its predictions) DeepMIL.

    ``truth``: true drivers [V, T, H, W]; ``params``: config ``ide.baselines``.
    """
    weeks = held_out_weeks(data)
    valid = data.valid[weeks]
    full: dict = {}
    naive = naive_drivers(data.inputs[:, :, weeks], params["naive_threshold"])
    full["naive"] = driver_metrics(naive, truth[:, weeks], data.variables, valid)
    forest = isolation_forest_drivers(
        data.inputs,
        np.flatnonzero(data.split == SPLITS["train"]),
        weeks,
        contamination=params["isolation_forest_contamination"],
        samples=params["isolation_forest_samples"],
        seed=seed,
        threads=threads,
    )
    full["isolation_forest"] = driver_metrics(forest, truth[:, weeks], data.variables, valid)
    rows = [
        table_row("naive anomaly threshold", full["naive"], None),
        table_row("isolation forest", full["isolation_forest"], None),
    ]
    if deepmil_pred is not None:
        k = weeks - deepmil_pred["first_week"]
        full["deepmil"] = driver_metrics(deepmil_pred["drivers"][:, k], truth[:, weeks], data.variables, valid)
        rows.append(table_row("DeepMIL", full["deepmil"], deepmil_pred.get("extremes")))
    return rows, full


def write_table(rows: list[dict], path: str | Path) -> None:
    """The rows as CSV (columns :data:`COLUMNS`; empty cells for metrics a method does not have)."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
