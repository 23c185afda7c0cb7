"""Shared parts of the reconstruction baselines (UniAD, STEALNet): a network reconstructs the window's
normalised anomalies, trained on normal pixels only (no (loose) extreme in the window); a voxel's error e is
its squared reconstruction error averaged over channels, and its score e / (e + e0[v]) is above 0.5 exactly
where e exceeds the variable's threshold e0[v]: the (1 - ``ide.baselines.contamination``) quantile of the
errors of training voxels of normal pixels (a fit-time calibration). The bag score is the highest voxel
score of the window."""

from __future__ import annotations

from abc import abstractmethod

from terraflux.ide.baselines.base import DRIVER_SCORE, NetworkBaseline, bag_logit
from terraflux.ide.windows import WindowData

import numpy as np
import torch
from torch import nn

CALIBRATION_BATCHES = 8  # batches of training windows whose errors set the thresholds


class ScoredReconstruction(nn.Module):
    """Wraps a network whose forward returns "reconstruction" [N, V, C, T, H, W] of its input."""

    def __init__(self, network: nn.Module, variables: int):
        super().__init__()
        self.network = network
        self.register_buffer("threshold", torch.ones(variables))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        reconstruction = self.network(x)
        error = (reconstruction - x).pow(2).mean(dim=2)  # [N, V, T, H, W]
        scores = error / (error + self.threshold[:, None, None, None])
        return {
            "error": error,
            "scores": scores,
            "logits": bag_logit(scores.flatten(1, 2).amax(dim=1)),
            "drivers": scores > DRIVER_SCORE,
        }


class ReconstructionBaseline(NetworkBaseline):
    @abstractmethod
    def network(self, variables: int, channels: int, weeks: int) -> nn.Module:
        """The reconstruction network (in training mode it may corrupt its input; the target stays x)."""

    def build(self, variables: int, channels: int, weeks: int) -> ScoredReconstruction:
        return ScoredReconstruction(self.network(variables, channels, weeks), variables)

    def loss(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        normal = batch["normal"][:, None, None].expand_as(out["error"])
        return out["error"][normal].mean() if normal.any() else out["error"].sum() * 0.0

    @torch.no_grad()
    def calibrate(self, data: WindowData) -> dict:
        errors = []
        for batch in self.training_windows(data, CALIBRATION_BATCHES, epoch=1):
            error = self.model(batch["x"].to(self.device.device))["error"].cpu()
            errors.append(error.permute(0, 3, 4, 1, 2)[batch["normal"]])  # [pixels, V, T]
        per_variable = torch.cat(errors).transpose(0, 1).flatten(1).numpy()
        if per_variable.shape[1] == 0:
            raise ValueError(f"{data.path}: no normal training pixel to calibrate the reconstruction errors on")
        threshold = np.quantile(per_variable, 1 - self.settings["contamination"], axis=1)
        self.model.threshold.copy_(torch.from_numpy(np.maximum(threshold, 1e-12).astype(np.float32)))
        return {"error_thresholds": threshold.tolist()}
