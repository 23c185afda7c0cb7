"""The IDE table: score files (models and baselines, test and val) flattened into long rows, then one row per
(dataset, method) with the mean and standard deviation over runs (seeds)."""

import terraflux  # noqa: F401
from terraflux.evaluate.ide import method_label, score_rows
from terraflux.ide.table import PAPER_TEST_DRIVER_F1, paper_table

import numpy as np
import pandas as pd
import pytest


def score(f1: float) -> dict:
    return {"f1": f1, "iou": f1 / (2 - f1), "precision": f1, "recall": f1, "overall_accuracy": 0.9, "tp": 3}


def metrics(f1: float, **extra) -> dict:
    node = {"extremes": score(f1), "drivers": {"pooled": score(f1), "per_variable": {"t2m": score(f1 / 2)}}}
    return {"split": "test", "dataset": "benchmark", **node, **extra}


def test_rows_hold_both_splits_every_scope_and_no_counts():
    rows = pd.DataFrame(score_rows("benchmark_deepmil", metrics(0.6, label="DeepMIL", val=metrics(0.5))))
    assert set(rows["split"]) == {"test", "val"}
    assert set(rows["scope"]) == {"pooled", "t2m"}
    assert set(rows["metric"]) == {"f1", "iou", "precision", "recall", "overall_accuracy"}  # not the counts
    assert set(rows["method"]) == {"DeepMIL"}
    assert len(rows) == 2 * 3 * 5  # splits x (extremes pooled, drivers pooled, drivers t2m) x metrics


def test_model_labels_name_backbone_and_codebook():
    assert method_label({"backbone": "swin3d"}) == "IDE swin3d"
    assert method_label({"backbone": "cnn3d", "codebook": "fsq"}) == "IDE cnn3d fsq"
    assert method_label({"label": "ARNet", "backbone": "x"}) == "ARNet"


def test_seeds_are_aggregated_as_mean_and_sample_std():
    rows = []
    for seed, f1 in enumerate((0.7, 0.8, 0.9)):
        rows += score_rows(f"benchmark_swin3d_seed{seed}", metrics(f1, backbone="swin3d"))
    rows += score_rows("benchmark_naive", metrics(0.4, label="naive anomaly threshold", val=metrics(0.3)))
    table = paper_table(pd.DataFrame(rows)).set_index("method")
    assert list(table.index) == ["IDE swin3d", "naive anomaly threshold"]  # best test driver F1 first
    ide, naive = table.loc["IDE swin3d"], table.loc["naive anomaly threshold"]
    assert ide["runs"] == 3 and naive["runs"] == 1
    assert ide["test_drivers_f1"] == pytest.approx(0.8, abs=1e-12)
    assert ide["test_drivers_f1_std"] == pytest.approx(0.1, abs=1e-12)  # sample std of 0.7, 0.8, 0.9
    assert ide["test_drivers_t2m_f1"] == pytest.approx(0.4, abs=1e-12)
    assert np.isnan(ide["val_drivers_f1"]) and naive["val_extremes_overall_accuracy"] == 0.9
    assert np.isnan(naive["test_drivers_f1_std"])  # one run: no spread
    assert ide["paper_test_driver_f1"] == PAPER_TEST_DRIVER_F1["IDE swin3d"] / 100


def test_published_driver_f1_only_on_benchmark_rows():
    rows = []
    for dataset in ("benchmark", "era5_land"):
        rows += score_rows(f"{dataset}_naive", {**metrics(0.4, label="naive anomaly threshold"), "dataset": dataset})
    table = paper_table(pd.DataFrame(rows)).set_index("dataset")
    assert table.loc["benchmark", "paper_test_driver_f1"] == PAPER_TEST_DRIVER_F1["naive anomaly threshold"] / 100
    assert np.isnan(table.loc["era5_land", "paper_test_driver_f1"])


def test_no_score_file_gives_an_empty_table():
    assert paper_table(pd.DataFrame()).empty
