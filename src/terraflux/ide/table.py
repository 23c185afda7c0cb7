"""The IDE paper's table: every method (IDE runs and baselines) on the same data with the same metrics.

Rows: (dataset, method); runs of one method on one dataset (e.g. several seeds) are aggregated as mean and
standard deviation (sample std, ddof = 1; empty for a single run). Columns ``<split>_<task>_<metric>`` (and
``..._std``) for split test and val, task drivers (pooled over variables) and extremes, metric F1, IoU and
overall accuracy, plus ``<split>_drivers_<variable>_<metric>`` per variable; ``paper_test_driver_f1``: the
published test driver F1 on the paper's synthetic CERRA benchmark, for scale, on the rows of the
``benchmark`` dataset only (the paper publishes no driver F1 for real data).

Published numbers: Shams Eddin and Gall, "Identifying spatio-temporal drivers of extreme events", NeurIPS
2024, arXiv:2410.24075, Table 1 (test F1 in %).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

PAPER_TEST_DRIVER_F1 = {
    "IDE swin3d": 80.44,
    "IDE mamba": 80.65,
    "ARNet": 73.68,
    "SimpleNet": 73.50,
    "DeepMIL": 71.54,
    "RTFM": 61.88,
    "STEALNet": 57.74,
    "naive anomaly threshold": 51.24,
    "UniAD": 49.23,
    "isolation forest": 37.16,
    "integrated gradients": 30.34,
    "integrated gradients (I)": 23.14,
    "one-class SVM": 29.98,
}
PAPER_DATASET = "benchmark"  # the dataset of ours that stands for the paper's synthetic benchmark
TABLE_METRICS = ("f1", "iou", "overall_accuracy")
KEYS = ["dataset", "method"]


def _column(split: str, task: str, scope: str, metric: str) -> str:
    return "_".join([split, task, metric] if scope == "pooled" else [split, task, scope, metric])


def paper_table(scores: pd.DataFrame) -> pd.DataFrame:
    """The table from long score rows (:func:`terraflux.evaluate.ide.score_rows`): one row per (dataset,
    method) with ``runs`` (score files aggregated), the published test driver F1 (as a fraction; empty where
    the paper has none and on other datasets than the benchmark) and mean / std columns, ordered by test
    driver F1 (best first) within a dataset."""
    if scores.empty:
        return pd.DataFrame(columns=[*KEYS, "runs", "paper_test_driver_f1"])
    rows = scores[scores["metric"].isin(TABLE_METRICS)]
    names = [_column(*key) for key in zip(rows["split"], rows["task"], rows["scope"], rows["metric"], strict=True)]
    rows = rows.assign(column=names)
    stats = rows.groupby([*KEYS, "column"])["value"].agg(["mean", "std"]).reset_index()
    mean = stats.pivot(index=KEYS, columns="column", values="mean")
    std = stats.pivot(index=KEYS, columns="column", values="std").add_suffix("_std")
    ordered = [c for pair in zip(mean.columns, std.columns, strict=True) for c in pair]
    table = mean.join(std)[ordered].reset_index()
    runs = scores.groupby(KEYS)["run"].nunique().rename("runs").reset_index()
    table = runs.merge(table, on=KEYS)
    paper = table["method"].map(PAPER_TEST_DRIVER_F1).astype(float) / 100
    paper = paper.where(table["dataset"] == PAPER_DATASET)
    table.insert(3, "paper_test_driver_f1", paper)
    first = [c for c in ("test_drivers_f1", "test_extremes_f1") if c in table]
    order = table.sort_values(["dataset", *first], ascending=[True] + [False] * len(first), kind="stable").index
    return table.loc[order].reset_index(drop=True)


def write_table(table: pd.DataFrame, path: str | Path) -> None:
    """The table as CSV (4 significant digits; empty cells where a method has no value)."""
    table.replace({np.inf: np.nan}).to_csv(path, index=False, float_format="%.4g")
