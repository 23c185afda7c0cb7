"""The IDE stages as a user runs them: a tiny benchmark through dataset, training, test and baselines."""

import csv
import json

import numpy as np
import xarray as xr
import yaml

from conftest import snakemake

TINY = {
    "ide": {
        "datasets": ["benchmark"],
        "backbones": ["cnn3d"],
        "weeks": 4,
        "benchmark": {"height": 12, "width": 12, "weeks": 160, "events_per_year": 20.0},
        "model": {"hidden": 4, "features": 4, "classifier_hidden": 4, "cnn_blocks": 1, "swin_depths": [1, 1], "swin_windows": [[2, 4, 4], [4, 1, 1]]},
        "train": {"crop": 8, "batch_size": 2, "epochs": 2, "steps_per_epoch": 3, "warmup_epochs": 1, "val_windows": 2},
        "baselines": {"isolation_forest_samples": 500, "deepmil_steps": 3},
    },
    "compute": {"train": {"gpus": 0}},
}


def test_benchmark_to_table(tmp_path):
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump({"run": {"name": "t"}, **TINY}))
    snakemake("results/t/ide/benchmark_table.csv", "--cores", "2", "--configfile", str(tmp_path / "tiny.yaml"), workdir=tmp_path)
    out = tmp_path / "results" / "t" / "ide"
    for backbone in ("cnn3d",):
        metrics = json.loads((out / f"benchmark_{backbone}" / "metrics.json").read_text())
        for task in ("extremes", "drivers"):
            node = metrics[task] if task == "extremes" else metrics[task]["pooled"]
            assert {"precision", "recall", "f1", "iou", "overall_accuracy"} <= set(node)
        assert metrics["training"]["fit"]["steps"] == 6
        assert metrics["provenance"]["rule"] == "ide_test"
        pred = xr.open_zarr(out / f"benchmark_{backbone}" / "predictions.zarr", consolidated=False)
        assert pred["driver"].dims == ("variable", "time", "y", "x") and pred["driver"].dtype == bool
        assert float(pred["extreme_probability"].min()) >= 0 and float(pred["extreme_probability"].max()) <= 1
        assert (out / f"benchmark_{backbone}" / "test.png").stat().st_size > 1000
    with open(out / "benchmark_table.csv") as handle:
        rows = list(csv.DictReader(handle))
    methods = [r["method"] for r in rows]
    assert methods == ["IDE cnn3d", "naive anomaly threshold", "isolation forest", "DeepMIL"]
    assert all(0 <= float(r["driver_f1"]) <= 1 for r in rows)
    bench = xr.open_zarr(tmp_path / "resources" / "t" / "ide" / "benchmark.zarr", consolidated=False)
    assert "provenance" in bench.attrs and bench["data"].dtype == np.float32
    # a second run has nothing to do (outputs complete, no half-written leftovers)
    done = snakemake("results/t/ide/benchmark_table.csv", "-n", "--cores", "2", "--configfile", str(tmp_path / "tiny.yaml"), workdir=tmp_path)
    assert "Nothing to be done" in done.stdout + done.stderr
    assert not list(out.rglob(".*tmp-*"))
