"""Streaming mean and standard deviation: (count, mean, M2) partials combined exactly (Chan et al. 1979).

Used for weekly statistics of hourly values whose weeks span two monthly files, and for per-variable
statistics over training years. float64 throughout (sum-of-squares in float32 loses everything for K).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Moments:
    """Per-element partial statistics: ``n`` (count of finite values), ``mean``, ``m2`` (sum of squared deviations)."""

    n: np.ndarray
    mean: np.ndarray
    m2: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray, axis: int | tuple[int, ...] = 0) -> Moments:
        """Moments of the finite ``values`` along ``axis``."""
        values = np.asarray(values, dtype=np.float64)
        finite = np.isfinite(values)
        n = finite.sum(axis=axis)
        total = np.where(finite, values, 0.0).sum(axis=axis)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, total / np.maximum(n, 1), np.nan)
        dev = np.where(finite, values - np.expand_dims(np.nan_to_num(mean), axis), 0.0)
        return cls(n.astype(np.int64), mean, (dev * dev).sum(axis=axis))

    def combine(self, other: Moments) -> Moments:
        """Moments of the union of both samples."""
        n = self.n + other.n
        a = np.nan_to_num(self.mean)
        b = np.nan_to_num(other.mean)
        delta = b - a
        with np.errstate(invalid="ignore", divide="ignore"):
            safe = np.maximum(n, 1)
            mean = np.where(n > 0, a + delta * other.n / safe, np.nan)
            m2 = self.m2 + other.m2 + delta * delta * self.n * other.n / safe
        return Moments(n, mean, m2)

    def std(self) -> np.ndarray:
        """Population standard deviation (NaN where no value)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.n > 0, np.sqrt(self.m2 / np.maximum(self.n, 1)), np.nan)
