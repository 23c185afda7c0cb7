"""The IDE stages as a user runs them: a tiny benchmark through dataset, training, test, every baseline and
the table."""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.image import imread

from support.configs import configfile_args
from support.ide_config import IDE
from support.workflow import snakemake

pytestmark = pytest.mark.slow
CONFIG = configfile_args("ide_chain")
TABLE = "results/t/evaluate/ide_table.csv"


def test_benchmark_to_table(tmp_path):
    snakemake(TABLE, "--cores", "2", *CONFIG, workdir=tmp_path, timeout=1200)  # 12 baseline jobs
    out = tmp_path / "results" / "t" / "ide"
    for backbone in ("cnn3d",):
        metrics = json.loads((out / f"benchmark_{backbone}_lfq_seed0" / "metrics.json").read_text())
        for task in ("extremes", "drivers"):
            node = metrics[task] if task == "extremes" else metrics[task]["pooled"]
            assert {"precision", "recall", "f1", "iou", "overall_accuracy"} <= set(node)
        assert metrics["training"]["fit"]["steps"] == 6
        assert (metrics["backbone"], metrics["codebook"], metrics["seed"]) == (backbone, "lfq", 0)
        assert metrics["provenance"]["rule"] == "ide_test"
        pred = xr.open_zarr(out / f"benchmark_{backbone}_lfq_seed0" / "predictions.zarr", consolidated=False)
        assert pred["driver"].dims == ("variable", "time", "y", "x") and pred["driver"].dtype == bool
        assert float(pred["extreme_probability"].min()) >= 0 and float(pred["extreme_probability"].max()) <= 1
        pixels = imread(out / f"benchmark_{backbone}_lfq_seed0" / "test.png")
        assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 50  # a drawn figure, not a blank
    methods = IDE["baselines"]["methods"]
    for method in methods:
        scores = json.loads((out / "baselines" / "benchmark" / f"{method}.json").read_text())
        assert scores["provenance"]["rule"] == "ide_baselines" and scores["method"] == method
        for split in (scores, scores["val"]):
            assert 0 <= split["drivers"]["pooled"]["f1"] <= 1 and "f1" in split["extremes"]
    table = pd.read_csv(tmp_path / TABLE)
    assert len(table) == 1 + len(methods) and set(table["runs"]) == {1}
    assert "IDE cnn3d lfq" in set(table["method"])
    for column in ("test_drivers_f1", "val_drivers_f1", "test_extremes_iou", "test_drivers_overall_accuracy"):
        assert table.loc[table["method"] != "IDE cnn3d lfq", column].between(0, 1).all(), column
    bench = xr.open_zarr(tmp_path / "resources" / "t" / "ide" / "benchmark.zarr", consolidated=False)
    assert "provenance" in bench.attrs and bench["data"].dtype == np.float32
    # a second run has nothing to do (outputs complete, no half-written leftovers)
    done = snakemake(TABLE, "-n", "--cores", "2", *CONFIG, workdir=tmp_path)
    assert "Nothing to be done" in done.stdout + done.stderr
    assert not list(out.rglob(".*tmp-*"))
