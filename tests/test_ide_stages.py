"""IDE stage functions: the test-time chain (windows -> majority vote -> metrics) is aligned week by week,
training on the shared engine is deterministic on CPU, and the demo's model learns drivers."""

import terraflux  # noqa: F401
from terraflux.ide.baselines.naive import naive_drivers
from terraflux.ide.benchmark import write_benchmark
from terraflux.ide.dataset import benchmark_source, truth_drivers, write_dataset
from terraflux.ide.stages import evaluate, load_model, predict, train
from terraflux.ide.windows import WindowData
from terraflux.metrics import driver_metrics
from terraflux.train import select_device

import numpy as np
import pytest
import torch

from support.ide_config import IDE, SMALL_MODEL, benchmark_config, model_params, train_settings

MEMORY_GB = IDE["train"]["memory_gb"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("ide")
    write_benchmark(benchmark_config(height=10, width=12, weeks=208, events_per_year=20.0, seed=4), root / "b.zarr")
    write_dataset(benchmark_source(root / "b.zarr"), root / "d.zarr", 10.0, {})
    return root


class Oracle(torch.nn.Module):
    """Reads the drivers off its input (the test puts the true drivers there) and the target off week 0."""

    def forward(self, x, valid=None):
        return {"logits": (x[:, 0, 0, 0] - 0.5) * 20, "drivers": x[:, :, 0] > 0.5}


def test_vote_and_metrics_are_aligned_with_the_truth(tiny):
    data = WindowData(tiny / "d.zarr", 5, MEMORY_GB)
    truth, has = truth_drivers(tiny / "b.zarr")
    assert has.all()
    data.inputs = truth[:, None].astype(np.float32)  # an oracle input: the true drivers themselves
    data.inputs[0, 0] = data.extreme  # variable 0 carries the extremes (its drivers are then not the truth)
    truth = truth.copy()
    truth[0] = data.extreme
    pred = predict(Oracle(), data, "test", tile=5, device=select_device("cpu"))
    metrics = evaluate(pred, data, "test", 0.5, truth)
    assert metrics["drivers"]["pooled"]["f1"] == 1.0
    assert metrics["extremes"]["f1"] == 1.0 and metrics["extremes"]["precision"] == 1.0
    assert metrics["drivers"]["weeks"] == int((data.split == 2).sum())


def test_training_is_deterministic_on_cpu_and_warms_up(tiny, tmp_path):
    settings = train_settings(crop=8, batch_size=2, epochs=2, steps_per_epoch=2, warmup_epochs=1, val_windows=2)
    small = model_params(**SMALL_MODEL)
    run = {"seed": 7, "threads": 1, "fingerprint": "f", "tile": 0}
    kwargs = dict(backbone="cnn3d", codebook="lfq", weeks=4, model_params=small, settings=settings, **run)
    first = train(tiny / "d.zarr", tmp_path / "a.pt", **kwargs)
    second = train(tiny / "d.zarr", tmp_path / "b.pt", **kwargs)
    a, _ = load_model(tmp_path / "a.pt", torch.device("cpu"))
    b, _ = load_model(tmp_path / "b.pt", torch.device("cpu"))
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    assert first["fit"]["steps"] == second["fit"]["steps"] == 4
    lrs = [h["lr"] for h in first["fit"]["history"]]
    assert lrs[0] == pytest.approx(settings.lr) and lrs[1] < lrs[0]  # warm-up done after epoch 0, then cosine
    assert not (tmp_path / ".a.pt.resume.pt").exists()


@pytest.mark.slow
def test_one_week_encoders_learn_the_drivers(tmp_path):
    """The demo's model (config ide.model: one-week encoders, LFQ commitment 0.1; ide.train: driver loss x 30),
    small and briefly trained on a small benchmark, finds the drivers well above the naive anomaly threshold
    (driver F1 at least 0.15 above the naive threshold's)."""
    write_benchmark(benchmark_config(height=32, width=32, weeks=416, events_per_year=24.0, seed=5), tmp_path / "b.zarr")
    write_dataset(benchmark_source(tmp_path / "b.zarr"), tmp_path / "d.zarr", 10.0, {})
    settings = train_settings(crop=16, batch_size=4, epochs=6, steps_per_epoch=20, warmup_epochs=1, val_windows=4)
    model = model_params(hidden=8, features=8, classifier_hidden=8, cnn_blocks=1)
    train(
        tmp_path / "d.zarr",
        tmp_path / "m.pt",
        backbone="cnn3d",
        codebook="lfq",
        weeks=8,
        model_params=model,
        settings=settings,
        seed=2,
        threads=2,
        fingerprint="f",
        tile=0,
    )
    data = WindowData(tmp_path / "d.zarr", 8, MEMORY_GB)
    truth, has = truth_drivers(tmp_path / "b.zarr", tmp_path / "d.zarr")
    trained, _ = load_model(tmp_path / "m.pt", torch.device("cpu"))
    metrics = evaluate(
        predict(trained, data, "test", tile=0, device=select_device("cpu")), data, "test", 0.5, truth, has
    )
    weeks = np.flatnonzero(data.split == 2)
    names = [v for v, k in zip(data.variables, has, strict=True) if k]
    naive = driver_metrics(
        naive_drivers(data.inputs[:, :, weeks], 2.0)[has], truth[has][:, weeks], names, data.valid[weeks]
    )
    assert metrics["drivers"]["pooled"]["f1"] >= naive["pooled"]["f1"] + 0.15
