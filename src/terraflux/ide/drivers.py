"""Driver maps from overlapping windows: average the binary masks per (variable, week, pixel), majority vote.

Each window ending at week t gives masks [V, T, H, W] for weeks t, t-1, ..., t-T+1 (newest first). A week
is covered by up to T windows; its driver map is mean(masks) >= 0.5 over the windows that cover it (the
vote is taken once, on the average of the raw binary masks).
"""

from __future__ import annotations

import numpy as np


class DriverVote:
    """Accumulates window masks over the weeks [first, first + weeks) of a grid H x W."""

    def __init__(self, variables: int, first: int, weeks: int, height: int, width: int):
        self.first = first
        self.votes = np.zeros((variables, weeks, height, width), np.uint16)
        self.count = np.zeros((weeks, height, width), np.uint16)

    def add(self, t: int, masks: np.ndarray, ys: slice = slice(None), xs: slice = slice(None)) -> None:
        """Masks [V, T, h, w] (bool, newest first) of the window ending at week t, at pixels (ys, xs)."""
        chronological = masks[:, ::-1]
        lo = t - masks.shape[1] + 1
        for k in range(masks.shape[1]):
            i = lo + k - self.first
            if 0 <= i < self.count.shape[0]:
                self.votes[:, i, ys, xs] += chronological[:, k]
                self.count[i, ys, xs] += 1

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(drivers [V, weeks, H, W] bool: majority of the covering windows, covered [weeks, H, W] bool)."""
        covered = self.count > 0
        drivers = (2 * self.votes.astype(np.int32) >= self.count.astype(np.int32)[None]) & covered[None]
        return drivers, covered
