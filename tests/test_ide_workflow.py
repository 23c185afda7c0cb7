"""The IDE stages as a user runs them: a tiny benchmark through dataset, training, test and baselines."""

import csv
import json

import numpy as np
import pytest
import xarray as xr
from matplotlib.image import imread

from support.configs import configfile_args
from support.workflow import snakemake

pytestmark = pytest.mark.slow
CONFIG = configfile_args("ide_chain")


def test_benchmark_to_table(tmp_path):
    snakemake("results/t/ide/benchmark_table.csv", "--cores", "2", *CONFIG, workdir=tmp_path)
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
    with open(out / "benchmark_table.csv") as handle:
        rows = list(csv.DictReader(handle))
    methods = [r["method"] for r in rows]
    assert methods == ["IDE cnn3d", "naive anomaly threshold", "isolation forest", "DeepMIL"]
    assert all(0 <= float(r["driver_f1"]) <= 1 for r in rows)
    bench = xr.open_zarr(tmp_path / "resources" / "t" / "ide" / "benchmark.zarr", consolidated=False)
    assert "provenance" in bench.attrs and bench["data"].dtype == np.float32
    # a second run has nothing to do (outputs complete, no half-written leftovers)
    done = snakemake("results/t/ide/benchmark_table.csv", "-n", "--cores", "2", *CONFIG, workdir=tmp_path)
    assert "Nothing to be done" in done.stdout + done.stderr
    assert not list(out.rglob(".*tmp-*"))
