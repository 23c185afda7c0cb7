"""The interface every IDE baseline implements, and the two families it is built from.

A baseline is fitted on the training split of a :class:`~terraflux.ide.windows.WindowData` and then predicts
a split as the IDE model does (:func:`terraflux.ide.stages.predict`): extremes probabilities at each target
week and per-variable driver masks, majority-voted over the windows that cover a week. Every method scores
each voxel (variable, week, pixel) of a window in [0, 1]; a voxel is a driver where its score exceeds
:data:`DRIVER_SCORE` (0.5), and the extremes probability of a pixel is the method's bag score of its window.

- :class:`VoxelBaseline`: scores that depend on a voxel's neighbourhood only, not on the window (statistical
  and classical one-class detectors); computed once per week; the extremes probability is the highest
  voxel score in the window (any variable, any week). :class:`DetectorBaseline`: one scikit-learn detector
  per variable on voxel neighbourhoods.
- :class:`NetworkBaseline`: a small PyTorch network over whole windows, trained with the shared engine
  (:mod:`terraflux.train`) on the training windows the IDE model sees (random crops, a share around
  extremes); predicted with :func:`terraflux.ide.stages.predict`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from terraflux.ide.stages import predict
from terraflux.ide.windows import WindowData, WindowSampling, training_batches
from terraflux.train import Engine, TrainConfig, seed_everything, select_device

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch import nn

DRIVER_SCORE = 0.5  # a voxel whose score exceeds this is a driver
WEEKS_PER_BLOCK = 16  # weeks scored at once by a VoxelBaseline (bounds the memory of its features)


class Baseline(ABC):
    """Fit on the training split, then predict splits like the IDE model.

    ``settings``: config ``ide.baselines``; ``sampling``: config ``ide.train`` keys crop, batch_size,
    positive_fraction (the training windows of the network baselines).
    """

    label: ClassVar[str]  # the method's name in the table

    def __init__(self, settings: dict, sampling: dict, seed: int, threads: int | None):
        self.settings, self.sampling, self.seed, self.threads = settings, sampling, seed, threads

    @abstractmethod
    def fit(self, data: WindowData, workdir: Path) -> dict:
        """Fit on the training split (``workdir``: room for resume files); returns a JSON-able summary."""

    @abstractmethod
    def predict(self, data: WindowData, split: str, tile: int) -> dict:
        """Every window of ``split``: the dict of :func:`terraflux.ide.stages.predict` (targets, probability
        [n_targets, H, W] in [0, 1], first_week, drivers [V, weeks, H, W] bool, covered [weeks, H, W])."""


def voxel_features(cube: np.ndarray) -> np.ndarray:
    """[T, H, W] -> features [T, H, W, 11]: the 3 x 3 neighbourhood at t and the pixel at t - 1 and t + 1."""
    padded = np.pad(cube, ((1, 1), (1, 1), (1, 1)), mode="edge")
    space = sliding_window_view(padded[1:-1], (3, 3), axis=(1, 2)).reshape(*cube.shape, 9)
    before = padded[:-2, 1:-1, 1:-1][..., None]
    after = padded[2:, 1:-1, 1:-1][..., None]
    return np.concatenate([space, before, after], axis=-1).astype(np.float32)


def training_voxels(data: WindowData, variable: int, samples: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``samples`` random :func:`voxel_features` rows [n, 11] of one variable's training weeks (first
    channel, valid pixels)."""
    from terraflux.ide.dataset import SPLITS

    weeks = np.flatnonzero(data.split == SPLITS["train"])
    feats = voxel_features(np.asarray(data.inputs[variable, 0]))[weeks]
    rows = feats[data.valid[weeks]]
    return rows[rng.choice(len(rows), size=min(samples, len(rows)), replace=False)]


class VoxelBaseline(Baseline):
    """Scores [V, weeks, H, W] of whole weeks (:meth:`voxel_scores`), independent of the window."""

    @abstractmethod
    def voxel_scores(self, inputs: np.ndarray) -> np.ndarray:
        """inputs [V, C, weeks, H, W] (normalised anomalies) -> scores [V, weeks, H, W] in [0, 1]."""

    def predict(self, data: WindowData, split: str, tile: int) -> dict:
        targets = data.target_weeks(split)
        if len(targets) == 0:
            raise ValueError(f"no {split} window")
        first = int(targets[0]) - data.weeks + 1
        weeks = int(targets[-1]) - first + 1
        nv, _, _, h, w = data.shape
        scores = np.empty((nv, weeks, h, w), np.float32)
        for lo in range(0, weeks, WEEKS_PER_BLOCK):
            hi = min(lo + WEEKS_PER_BLOCK, weeks)
            scores[:, lo:hi] = self.voxel_scores(np.asarray(data.inputs[:, :, first + lo : first + hi]))
        strongest = scores.max(axis=0)  # [weeks, H, W]
        window_max = sliding_window_view(strongest, data.weeks, axis=0).max(axis=-1)  # ends at week k + T - 1
        probability = window_max[targets - first - data.weeks + 1]
        return {
            "targets": targets,
            "probability": probability.astype(np.float32),
            "first_week": first,
            "drivers": scores > DRIVER_SCORE,
            "covered": np.ones((weeks, h, w), bool),
        }


class DetectorBaseline(VoxelBaseline):
    """One scikit-learn detector per variable (:meth:`detector`), fitted on ``samples_key`` random training
    voxels' :func:`voxel_features`; :meth:`score` maps its outputs to [0, 1]."""

    samples_key: ClassVar[str]

    @abstractmethod
    def detector(self, rng: np.random.Generator):
        """An unfitted detector (``rng``: its seed)."""

    @abstractmethod
    def score(self, detector, rows: np.ndarray) -> np.ndarray:
        """Scores [n] in [0, 1] of feature rows [n, 11]; above DRIVER_SCORE where the detector flags them."""

    def fit(self, data: WindowData, workdir: Path) -> dict:
        rng = np.random.default_rng(self.seed)
        self.detectors = [
            self.detector(rng).fit(training_voxels(data, v, self.settings[self.samples_key], rng))
            for v in range(data.shape[0])
        ]
        return {"detectors": len(self.detectors)}

    def voxel_scores(self, inputs: np.ndarray) -> np.ndarray:
        out = []
        for v, detector in enumerate(self.detectors):
            feats = voxel_features(inputs[v, 0])
            out.append(self.score(detector, feats.reshape(-1, feats.shape[-1])).reshape(feats.shape[:-1]))
        return np.stack(out).astype(np.float32)


class NetworkBaseline(Baseline):
    """A network over windows: ``forward(x [N, V, C, T, H, W])`` returns at least "logits" [N, H, W] (the bag
    score's logit: the extremes probability) and "drivers" [N, V, T, H, W] (voxel score > DRIVER_SCORE)."""

    model: nn.Module

    @abstractmethod
    def build(self, variables: int, channels: int, weeks: int) -> nn.Module:
        """The untrained network."""

    @abstractmethod
    def loss(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The training loss of one batch (x, target, valid, normal of :func:`training_batches`)."""

    def calibrate(self, data: WindowData) -> dict:
        """After training: fix what the scores need from the training data (default nothing)."""
        return {}

    def training_windows(self, data: WindowData, steps: int, epoch: int):
        """``steps`` batches of training windows (``epoch`` seeds the draw; 0 is the one trained on)."""
        sampling = WindowSampling(
            self.sampling["batch_size"],
            steps,
            min(self.sampling["crop"], *data.shape[3:]),
            self.sampling["positive_fraction"],
        )
        return training_batches(data, sampling, seed=self.seed, epoch=epoch)

    def fit(self, data: WindowData, workdir: Path) -> dict:
        """Adam at a constant ``lr`` for one epoch of ``steps`` steps on the shared engine, then
        :meth:`calibrate`."""
        seed_everything(self.seed)
        self.device = select_device(threads=self.threads)
        nv, nc, _, _, _ = data.shape
        self.model = self.build(nv, nc, data.weeks)
        settings = self.settings
        optimizer = torch.optim.Adam(self.model.parameters(), lr=settings["lr"])
        steps = settings["steps"]
        config = TrainConfig(max_epochs=1, patience=0, grad_clip=settings["grad_clip"], checkpoint_every=steps)
        resume = Path(workdir) / f".{type(self).__name__}.resume.pt"
        engine = Engine(self.model, optimizer, config, resume_path=resume, device=self.device)
        dev = self.device.device

        def train_step(model, batch):
            batch = {k: v.to(dev) for k, v in batch.items()}
            return self.loss(model(batch["x"]), batch)

        result = engine.fit(lambda epoch: self.training_windows(data, steps, epoch), train_step)
        resume.unlink(missing_ok=True)
        self.model.eval()
        return {"fit": result.as_dict(), "calibration": self.calibrate(data)}

    def predict(self, data: WindowData, split: str, tile: int) -> dict:
        return predict(self.model, data, split, tile=tile, device=self.device)


def bag_logit(probability: torch.Tensor) -> torch.Tensor:
    """The logit of a probability, clamped away from 0 and 1 (finite for a BCE on logits)."""
    return torch.logit(probability.clamp(1e-6, 1 - 1e-6))
