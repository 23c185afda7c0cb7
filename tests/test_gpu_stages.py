"""Every training stage on a CUDA device, at tiny size, through the stage functions the workflow's scripts call:
DERE steps 1-4 and 6, CSDI (step 5), each comparison backbone as Baseline and KGML, and IDE training and test for
each backbone (cnn3d, swin3d, mamba).

For each stage: it runs under bf16 autocast as the workflow configures it, its losses are finite, the training
loss falls, and its outputs have the CPU run's shapes and dtypes. The same chain in fp32 on the GPU (TF32 off)
is compared with fp32 on the CPU: the first epoch's training loss, which the two runs compute from identical
initial weights and batches, agrees to float32 reduction error, and the predictions after training agree to a
stated share of their spread (the runs then differ by rounding propagated through the optimiser steps).
IDE trains where the stages put it (CUDA when present), so its GPU run is compared with the CPU format only: the
checkpoint loads on the CPU and predicts there like a CPU-trained one. Skipped without CUDA (marker ``gpu``,
tests/conftest.py).
"""

import copy
import math
from dataclasses import replace

import terraflux  # noqa: F401
from terraflux.csdi import impute
from terraflux.dere import stages, step5
from terraflux.dere.dataset import DereTensors
from terraflux.ide.benchmark import write_benchmark
from terraflux.ide.dataset import benchmark_source, write_dataset
from terraflux.ide.model import BACKBONES as IDE_BACKBONES
from terraflux.ide.stages import load_model, predict, train
from terraflux.ide.windows import WindowData
from terraflux.train import make_generator, seed_everything, select_device

import numpy as np
import pytest
import torch

from support.configs import load_config
from support.dere_world import tiny_dataset
from support.ide_config import IDE, SMALL_MODEL, benchmark_config, model_params, train_settings

pytestmark = pytest.mark.gpu

TINY = load_config("dere_tiny")["dere"]
BACKBONES = TINY["comparison"]["backbones"]
# Predictions after training, fp32 GPU against fp32 CPU, as a share of the CPU predictions' spread: the two runs
# differ per operation by reassociation (float32, about 1e-7 relative) and each optimiser step can amplify that;
# a few dozen Adam steps at the tiny sizes stay well inside 1e-2 of the spread.
PREDICTION_SHARE = 1e-2
EPOCHS = 6  # every stage: enough for the training loss to fall at the tiny sizes


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    ds = tiny_dataset(tmp_path_factory.mktemp("world"), TINY)
    return DereTensors.from_dataset(ds)


def _chain(data: DereTensors, info, root) -> dict[str, tuple[list[dict], np.ndarray]]:
    """Each stage's training history and outputs (numpy, on the host)."""
    seed_everything(0)
    cfg = copy.deepcopy(TINY)
    cfg["epochs"] = {stage: EPOCHS for stage in cfg["epochs"]}
    cfg["csdi"]["epochs"] = EPOCHS
    ctx = stages.Context(info, 5, root, "gpu-test")
    out = {}
    pure = stages.step1_pure(data, cfg, ctx)
    out["step1_pure"] = (pure.fit.history, None)
    mix = stages.step1_mix(data, cfg, ctx, pure.model.state_dict())
    out["step1_mix"] = (mix.fit.history, None)
    step2 = stages.step2(data, cfg, ctx, mix.model.state_dict())
    out["step2"] = (step2.fit.history, step2.pure.cpu().numpy())
    pft_a = stages.step3a(data, cfg, ctx)
    out["step3a"] = (pft_a.fit.history, None)
    pft_b = stages.step3b(data, cfg, ctx, pft_a.model.state_dict())
    out["step3b"] = (pft_b.fit.history, None)
    start = stages.FluxStart.of(data, cfg, ctx, step2.model.state_dict(), pft_b.model.state_dict())
    step4 = stages.step4(data, cfg, ctx, start)
    out["step4"] = (step4["all"].fit.history, step4["all"].predictions)
    out["csdi"], labels = _csdi(data, cfg, ctx)
    std = torch.where(torch.isfinite(data.insitu), 0.0, labels.std(0))
    point = torch.where(torch.isfinite(data.insitu), data.insitu, labels.median(0).values)
    step6 = stages.step6(data, cfg, ctx, start, point, std, ~torch.isfinite(data.insitu))
    out["step6"] = (step6["all"].fit.history, step6["all"].predictions)
    for backbone in BACKBONES:
        for variant in ("baseline", "kgml"):
            own = replace(ctx, resume_dir=root / f"{variant}_{backbone}")  # each rule has its own resume folder
            result = stages.comparison(data, cfg, own, backbone, variant)
            out[f"{variant}_{backbone}"] = (result.fit.history, result.predictions)
    return out


def _csdi(data: DereTensors, cfg: dict, ctx) -> tuple[tuple[list[dict], np.ndarray], torch.Tensor]:
    """Step 5's CSDI of NEE on the sites: its history and samples, and label samples [S, sites, L, fluxes]."""
    fitted = step5.fit(data, cfg, ctx, "NEE", data.x[data.site_cell])
    samples = impute.impute(fitted.model, fitted.x, fitted.observed, cfg["csdi"], make_generator(5))
    samples = samples * fitted.std + fitted.mean  # [S, sites, L]
    labels = samples[..., None].expand(*samples.shape, len(data.fluxes)).float()
    return (fitted.fit.history, samples.cpu().numpy()), labels


def _cuda(bf16: bool):
    info = select_device("cuda")
    return replace(info, bf16=bf16 and info.bf16)


@pytest.fixture(scope="module")
def cpu_fp32(data, tmp_path_factory):
    return _chain(data, select_device("cpu"), tmp_path_factory.mktemp("cpu"))


@pytest.fixture(scope="module")
def gpu_fp32(data, tmp_path_factory):
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        return _chain(data, _cuda(bf16=False), tmp_path_factory.mktemp("gpu32"))
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


def test_every_stage_trains_under_bf16_autocast_in_the_cpu_format(data, cpu_fp32, tmp_path):
    info = _cuda(bf16=True)
    assert info.bf16, "the H200 supports bf16; autocast must be on as the workflow configures it"
    gpu = _chain(data, info, tmp_path)
    assert gpu.keys() == cpu_fp32.keys()
    for stage, (history, outputs) in gpu.items():
        history = [h for h in history if h["epoch"] >= 0]  # without the starting weights' validation
        losses = [h["train_loss"] for h in history]
        assert losses and all(math.isfinite(v) for v in losses), stage
        assert all(math.isfinite(h["val_loss"]) for h in history if "val_loss" in h), stage
        # CSDI's training loss draws a diffusion step per sample and is noisy; its validation loss uses a fixed
        # mask and noise, so that is the curve that must fall
        curve = [h["val_loss"] for h in history] if stage == "csdi" else losses
        assert min(curve[1:]) < curve[0], f"{stage}: the loss did not fall: {curve}"
        reference = cpu_fp32[stage][1]
        if reference is not None:
            assert outputs.shape == reference.shape and outputs.dtype == reference.dtype, stage
            assert np.isfinite(outputs).all(), stage


def test_fp32_on_the_gpu_agrees_with_fp32_on_the_cpu(cpu_fp32, gpu_fp32):
    for stage, (history, outputs) in gpu_fp32.items():
        cpu_history, reference = cpu_fp32[stage]
        first_gpu, first_cpu = (
            next(h["train_loss"] for h in hist if h["epoch"] >= 0) for hist in (history, cpu_history)
        )
        # the first epoch's mean loss: its first step is computed from identical weights and batches, the
        # others after a few optimiser steps on rounding-level differences
        assert first_gpu == pytest.approx(first_cpu, rel=1e-3), stage
        if reference is None:
            continue
        finite = np.isfinite(reference)
        spread = float(np.std(reference[finite]))
        diff = float(np.max(np.abs(outputs[finite] - reference[finite])))
        assert diff <= PREDICTION_SHARE * spread, f"{stage}: max difference {diff:.3g}, spread {spread:.3g}"


@pytest.fixture(scope="module")
def ide_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("ide")
    write_benchmark(benchmark_config(height=16, width=16, weeks=208, events_per_year=20.0, seed=4), root / "b.zarr")
    write_dataset(benchmark_source(root / "b.zarr"), root / "d.zarr", IDE["clip"], {})
    return root / "d.zarr"


@pytest.mark.parametrize("backbone", IDE_BACKBONES)
def test_ide_trains_on_the_gpu_and_its_checkpoint_predicts_on_the_cpu(ide_dataset, backbone, tmp_path):
    settings = train_settings(crop=16, batch_size=4, epochs=6, steps_per_epoch=8, warmup_epochs=1, val_windows=4)
    kwargs = dict(codebook="lfq", weeks=4, model_params=model_params(**SMALL_MODEL), settings=settings, seed=7)
    summary = train(
        ide_dataset, tmp_path / "m.pt", backbone=backbone, threads=1, fingerprint="gpu-test", tile=0, **kwargs
    )
    device = summary["device"]
    assert device["device"].startswith("cuda") and device["bf16_autocast"], device
    losses = [h["train_loss"] for h in summary["fit"]["history"]]
    assert all(math.isfinite(v) for v in losses) and min(losses[1:]) < losses[0], losses
    data = WindowData(ide_dataset, 4, settings.memory_gb)
    cpu = select_device("cpu")
    model, _ = load_model(tmp_path / "m.pt", cpu.device)
    out = predict(model, data, "test", tile=0, device=cpu)
    assert next(model.parameters()).device.type == "cpu"
    assert out["probability"].dtype == np.float32 and np.isfinite(out["probability"]).all()
    assert out["drivers"].shape[0] == data.shape[0] and out["drivers"].dtype == bool
