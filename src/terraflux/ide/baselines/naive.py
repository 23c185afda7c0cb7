"""Naive anomaly threshold: a voxel is a driver where any channel's normalised anomaly exceeds
``ide.baselines.naive_threshold`` climatological standard deviations in absolute value, independently per
variable, week and pixel (the IDE paper's naive baseline). Nothing is learned."""

from __future__ import annotations

from pathlib import Path

from terraflux.ide.baselines.base import VoxelBaseline
from terraflux.ide.windows import WindowData

import numpy as np


def naive_drivers(inputs: np.ndarray, threshold: float) -> np.ndarray:
    """inputs [V, C, T, H, W] normalised -> drivers [V, T, H, W]: any channel beyond +-threshold."""
    return (np.abs(inputs) > threshold).any(axis=1)


class NaiveThreshold(VoxelBaseline):
    """Score a / (a + threshold) of the largest absolute anomaly a over the channels: above 0.5 exactly
    where a > threshold."""

    label = "naive anomaly threshold"

    def fit(self, data: WindowData, workdir: Path) -> dict:
        return {"threshold": self.settings["naive_threshold"]}

    def voxel_scores(self, inputs: np.ndarray) -> np.ndarray:
        a = np.abs(inputs).max(axis=1)
        return a / (a + self.settings["naive_threshold"])
