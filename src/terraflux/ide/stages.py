"""Stage functions of the IDE workflow (called by ``workflow/scripts/ide_*.py``).

- :func:`train` (rule ``ide_train``): fit an :class:`~terraflux.ide.model.IDEModel` on a ``dataset.zarr``
  with the shared engine (:mod:`terraflux.train`: seeds, device, bf16 on CUDA, resume, early stopping,
  data-parallel processes); Adam with weight decay, warm-up + cosine schedule stepped per optimiser step,
  random crops with flips.
- :func:`load_model`, :func:`predict` (rule ``ide_test``): run a trained model over every window of a split
  (spatial tiles), returning extremes probabilities at each target week and the majority-vote driver maps.
- :func:`evaluate`: extremes metrics on valid pixels; driver metrics against a ground truth if given.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from terraflux.ide.drivers import DriverVote
from terraflux.ide.losses import ide_loss
from terraflux.ide.model import IDEModel, ModelConfig, count_parameters
from terraflux.ide.schedule import warmup_cosine
from terraflux.ide.windows import (
    WindowData,
    WindowSampling,
    evenly_spaced,
    stack_windows,
    tile_slices,
    training_batches,
)
from terraflux.metrics import binary_metrics, driver_metrics
from terraflux.outputs import jsonable, load_checkpoint, save_checkpoint
from terraflux.train import Engine, TrainConfig, seed_everything, select_device
from terraflux.train.device import autocast
from terraflux.train.launch import Distributed

import numpy as np
import torch

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSettings:
    """Training settings of one dataset: config ``ide.train`` (:meth:`from_dict`), with ``driver_weight`` the
    dataset's entry of ``ide.train.driver_weight``.

    ``memory_gb`` bounds the dataset's memory (:class:`~terraflux.ide.windows.WindowData`).
    """

    crop: int
    positive_fraction: float
    batch_size: int
    epochs: int
    steps_per_epoch: int
    lr: float
    weight_decay: float
    warmup_epochs: int
    driver_weight: float
    grad_clip: float
    patience: int
    val_windows: int
    checkpoint_every: int
    memory_gb: float

    @classmethod
    def from_dict(cls, params: dict, dataset: str) -> TrainSettings:
        """The settings for ``dataset`` from config ``ide.train`` (per-dataset keys are dicts by dataset)."""
        return cls(**{**params, "driver_weight": params["driver_weight"][dataset]})


def _to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def validation_batches(data: WindowData, count: int, tile: int, context: int = 0) -> list[dict[str, torch.Tensor]]:
    """Fixed validation windows (evenly spaced over the val split), each as full-frame tiles."""
    _, _, _, h, w = data.shape
    batches = []
    for t in evenly_spaced(data.target_weeks("val"), count):
        for ys in tile_slices(h, tile):
            for xs in tile_slices(w, tile):
                batches.append(stack_windows([data.window(int(t), ys, xs, context)]))
    return batches


def train(
    dataset: str | Path,
    checkpoint: str | Path,
    *,
    backbone: str,
    codebook: str,
    weeks: int,
    model_params: dict,
    settings: TrainSettings,
    seed: int,
    threads: int | None,
    fingerprint: str,
    tile: int,
    provenance: dict | None = None,
    dist: Distributed | None = None,
) -> dict:
    """Train and write ``checkpoint`` (weights, model config, variables, training summary, ``provenance``).

    ``model_params``: config ``ide.model``; ``tile``: config ``ide.test_tile`` (validation windows).
    ``dist``: data-parallel processes (:mod:`terraflux.train.launch`): each trains on its part of every
    batch through the engine; rank 0 writes the checkpoint.

    The engine's rolling resume state lives beside it (``.resume.pt``), so a killed job continues when
    re-run. Returns the summary.
    """
    seed_everything(seed)
    device = select_device(threads=threads)
    data = WindowData(dataset, weeks, memory_gb=settings.memory_gb)
    nv, nc, _, h, w = data.shape
    crop = min(settings.crop, h, w)
    cfg = ModelConfig.from_dict(model_params, variables=nv, channels=nc, backbone=backbone, codebook=codebook)
    model = IDEModel(cfg, (weeks, crop, crop))
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    total = settings.epochs * settings.steps_per_epoch
    scheduler = warmup_cosine(optimizer, settings.warmup_epochs * settings.steps_per_epoch, total)
    engine_cfg = TrainConfig(
        max_epochs=settings.epochs,
        patience=settings.patience,
        grad_clip=settings.grad_clip,
        checkpoint_every=settings.checkpoint_every,
        scheduler_interval="step",
        log_every=10,
    )
    checkpoint = Path(checkpoint)
    resume = checkpoint.with_name(f".{checkpoint.name}.resume.pt")
    engine = Engine(
        model,
        optimizer,
        engine_cfg,
        resume_path=resume,
        scheduler=scheduler,
        device=device,
        fingerprint=fingerprint,
        dist=dist,
    )
    dev = device.device
    val = validation_batches(data, settings.val_windows, tile, model.context)

    sampling = WindowSampling(
        settings.batch_size, settings.steps_per_epoch, crop, settings.positive_fraction, context=model.context
    )

    def epoch_batches(epoch: int):
        return training_batches(data, sampling, seed=seed, epoch=epoch)

    def train_step(model: IDEModel, batch):
        batch = _to_device(batch, dev)
        out = model(batch["x"], batch["valid"])
        return ide_loss(out, batch, settings.driver_weight)

    def validate(model: IDEModel) -> float:
        losses = []
        for batch in val:
            batch = _to_device(batch, dev)
            loss, _ = ide_loss(model(batch["x"], batch["valid"]), batch, settings.driver_weight)
            losses.append(float(loss))
        return float(np.mean(losses)) if losses else 0.0

    result = engine.fit(epoch_batches, train_step, validate if val else None)
    summary = {
        "backbone": backbone,
        "codebook": codebook,
        "parameters": count_parameters(model),
        "device": device.as_dict(),
        "crop": crop,
        "fit": result.as_dict(),
    }
    if dist is not None and not dist.is_main:
        return summary
    save_checkpoint(
        checkpoint,
        {
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "model_config": jsonable(asdict(cfg)),
            "size": [weeks, crop, crop],
            "variables": data.variables,
            "summary": jsonable(summary),
        },
        provenance or {},
    )
    resume.unlink(missing_ok=True)
    return summary


def load_model(checkpoint: str | Path, device: torch.device) -> tuple[IDEModel, dict]:
    """The trained model of a :func:`train` checkpoint on ``device`` (eval mode) and the checkpoint's state."""
    state = load_checkpoint(checkpoint, map_location="cpu")
    values = state["model_config"]
    cfg = ModelConfig.from_dict(
        values,
        variables=values["variables"],
        channels=values["channels"],
        backbone=values["backbone"],
        codebook=values["codebook"],
    )
    model = IDEModel(cfg, tuple(state["size"]))
    model.load_state_dict(state["model"])
    return model.to(device).eval(), state


@torch.no_grad()
def predict(model: IDEModel, data: WindowData, split: str, *, tile: int, device) -> dict:
    """Every window of ``split``: extremes probability [n_targets, H, W] at the target weeks and the majority
    vote of the driver masks over the weeks the windows cover (from the first window's first week)."""
    nv, _, _, h, w = data.shape
    targets = data.target_weeks(split)
    if len(targets) == 0:
        raise ValueError(f"no {split} window")
    first = int(targets[0]) - data.weeks + 1
    vote = DriverVote(nv, first, int(targets[-1]) - first + 1, h, w)
    prob = np.zeros((len(targets), h, w), np.float32)
    for i, t in enumerate(targets):
        for ys in tile_slices(h, tile):
            for xs in tile_slices(w, tile):
                window = data.window(int(t), ys, xs, getattr(model, "context", 0))  # weeks read before the window
                x = torch.from_numpy(np.ascontiguousarray(window["x"]))[None].to(device.device)
                with autocast(device):
                    out = model(x)
                prob[i, ys, xs] = torch.sigmoid(out["logits"].float())[0].cpu().numpy()
                vote.add(int(t), out["drivers"][0].cpu().numpy(), ys, xs)
    drivers, covered = vote.result()
    return {"targets": targets, "probability": prob, "first_week": first, "drivers": drivers, "covered": covered}


def evaluate(
    pred: dict,
    data: WindowData,
    split: str,
    threshold: float,
    truth: np.ndarray | None,
    has_truth: np.ndarray | None = None,
) -> dict:
    """Metrics: extremes (valid pixels of the target weeks) and, with a truth [V, T, H, W], drivers over
    the weeks of ``split`` (pixels valid at that week), for the variables with ``has_truth`` (default all)."""
    t = pred["targets"]
    extremes = binary_metrics(pred["probability"] >= threshold, data.extreme[t], data.valid[t])
    metrics = {"split": split, "threshold": threshold, "windows": int(len(t)), "extremes": extremes}
    if truth is not None:
        weeks = np.arange(pred["first_week"], pred["first_week"] + pred["drivers"].shape[1])
        in_split = data.split[weeks] == data.split[t[0]]
        valid = data.valid[weeks][in_split] & pred["covered"][in_split]
        keep = np.ones(len(data.variables), bool) if has_truth is None else np.asarray(has_truth, bool)
        names = [v for v, k in zip(data.variables, keep, strict=True) if k]
        metrics["drivers"] = driver_metrics(
            pred["drivers"][keep][:, in_split], truth[keep][:, weeks][:, in_split], names, valid
        )
        metrics["drivers"]["weeks"] = int(in_split.sum())
    return metrics
