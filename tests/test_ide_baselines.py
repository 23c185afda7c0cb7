"""IDE baselines: every method fits on tiny data, predicts per-variable binary driver masks and extremes
probabilities in [0, 1] of the right shapes, is deterministic under a seed on CPU, and finds planted drivers
better than chance.

Chance: a mask drawn independently of the truth that flags a share q of the N voxels finds in expectation
q P of the P true drivers, so E[TP] = qP, E[FP] = q(N - P), E[FN] = (1 - q)P and F1 = 2qP / (qN + P), which
grows with q: no truth-blind mask beats flagging everything, F1 = 2p / (1 + p) with prevalence p = P / N.
That is the bar.
"""

import json

import terraflux  # noqa: F401
from terraflux.ide.baselines import METHODS, method_class, run
from terraflux.ide.benchmark import write_benchmark
from terraflux.ide.dataset import benchmark_source, write_dataset
from terraflux.ide.stages import evaluate
from terraflux.ide.windows import WindowData

import numpy as np
import pytest

from support.ide_config import IDE, benchmark_config

WEEKS = 4
SAMPLING = {"crop": 8, "batch_size": 4, "positive_fraction": 0.5}
SETTINGS = {**IDE["baselines"], "steps": 100, "isolation_forest_samples": 2000, "svm_samples": 500}


VARIABLES = ["lead", "lag", "uncoupled"]
SHIFT = 3.0  # planted driver anomaly (standard deviations of the unit-variance noise)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A planted world on the splits of a tiny benchmark dataset (16 x 16 pixels, 260 weeks): unit Gaussian
    noise; 60 extreme events (discs of radius 2-3 pixels, 1-2 weeks); variable "lead" is shifted by +SHIFT at
    the event's pixels in its week and the two before, "lag" by -SHIFT in the three weeks before it, and
    "uncoupled" never. Returns the data and the true drivers [3, T, H, W]."""
    root = tmp_path_factory.mktemp("baselines")
    write_benchmark(benchmark_config(height=16, width=16, weeks=260, seed=3), root / "b.zarr")
    write_dataset(benchmark_source(root / "b.zarr"), root / "d.zarr", 10.0, {})
    data = WindowData(root / "d.zarr", WEEKS, IDE["train"]["memory_gb"])
    rng = np.random.default_rng(11)
    _, _, nt, h, w = data.shape
    inputs = rng.normal(size=(len(VARIABLES), 1, nt, h, w)).astype(np.float32)
    extreme = np.zeros((nt, h, w), bool)
    truth = np.zeros((len(VARIABLES), nt, h, w), bool)
    yy, xx = np.mgrid[:h, :w]
    for _ in range(60):
        t, y, x, r = int(rng.integers(4, nt - 2)), int(rng.integers(h)), int(rng.integers(w)), int(rng.integers(2, 4))
        disc = (yy - y) ** 2 + (xx - x) ** 2 <= r * r
        extreme[t : t + int(rng.integers(1, 3))] |= disc
        truth[0, t - 2 : t + 1] |= disc
        truth[1, t - 3 : t] |= disc
    inputs[0, 0][truth[0]] += SHIFT
    inputs[1, 0][truth[1]] -= SHIFT
    data.inputs, data.extreme, data.extreme_loose = inputs, extreme, extreme.copy()
    data.valid, data.variables = np.ones((nt, h, w), bool), VARIABLES
    return data, truth


def fitted_prediction(method, data, workdir, seed):
    baseline = method_class(method)(SETTINGS, SAMPLING, seed, 1)
    baseline.fit(data, workdir)
    return baseline.predict(data, "test", tile=0)


@pytest.mark.parametrize("method", list(METHODS))
def test_baseline_fits_predicts_is_deterministic_and_beats_chance(method, planted, tmp_path):
    data, truth = planted
    first = fitted_prediction(method, data, tmp_path, seed=5)
    second = fitted_prediction(method, data, tmp_path, seed=5)
    nv, _, _, h, w = data.shape
    targets = data.target_weeks("test")
    weeks = int(targets[-1]) - first["first_week"] + 1
    assert first["drivers"].shape == (nv, weeks, h, w) and first["drivers"].dtype == bool
    assert first["probability"].shape == (len(targets), h, w)
    assert np.isfinite(first["probability"]).all()
    assert first["probability"].min() >= 0 and first["probability"].max() <= 1
    for key in ("drivers", "probability", "covered"):
        assert np.array_equal(first[key], second[key]), key
    pooled = evaluate(first, data, "test", 0.5, truth)["drivers"]["pooled"]
    p = (pooled["tp"] + pooled["fn"]) / (pooled["tp"] + pooled["fp"] + pooled["fn"] + pooled["tn"])
    assert pooled["f1"] > 2 * p / (1 + p), (pooled, p)
    assert not list(tmp_path.glob(".*resume*"))


def test_run_scores_test_and_val_in_the_models_layout(planted, tmp_path):
    data, truth = planted
    out = run(
        "naive",
        data,
        truth,
        None,
        settings=SETTINGS,
        sampling=SAMPLING,
        threshold=0.5,
        tile=0,
        seed=1,
        threads=1,
        workdir=tmp_path,
    )
    for node in (out, out["val"]):
        assert {"f1", "iou", "overall_accuracy"} <= set(node["extremes"])
        assert {"pooled", "per_variable"} <= set(node["drivers"])
    assert out["split"] == "test" and out["val"]["split"] == "val"
    assert out["label"] == "naive anomaly threshold"
    json.dumps(out)  # JSON-able as the rule writes it


def test_unknown_method_names_the_key():
    with pytest.raises(ValueError, match="ide.baselines.methods"):
        method_class("nonsense")
