"""Random building blocks of the world: seeds, smooth spatial fields, autocorrelated series.

All fields are *continuous functions* of latitude and longitude (random Fourier features), so the
same world can be evaluated on every source's grid (ERA5-Land, ESA-CCI, CERRA, VHP, tower points)
and all of them agree.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np


def stage_seed(seed: int, *names: object) -> int:
    """A 64-bit seed derived from the master seed and stage names (stable across runs and machines)."""
    text = "/".join([str(int(seed))] + [str(n) for n in names])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def stage_rng(seed: int, *names: object) -> np.random.Generator:
    """A numpy Generator for one stage of the world (e.g. ``stage_rng(seed, "land", "pft")``)."""
    return np.random.default_rng(stage_seed(seed, *names))


@dataclass(frozen=True)
class SmoothField:
    """A stationary, smooth random field of unit variance: sum of random Fourier features.

    ``freq``: [n, 2] cycles per degree (latitude, scaled longitude); ``phase``: [n] radians.
    f(lat, lon) = sqrt(2 / n) * sum_k cos(2 pi (freq_k . (lat, lon * coslat)) + phase_k)
    """

    freq: np.ndarray
    phase: np.ndarray
    coslat: float

    @classmethod
    def draw(cls, rng: np.random.Generator, length_deg: float, coslat: float, n: int = 24) -> SmoothField:
        """Gaussian covariance with correlation length ``length_deg`` (degrees)."""
        freq = rng.normal(0.0, 1.0 / (2 * np.pi * length_deg), size=(n, 2))
        phase = rng.uniform(0.0, 2 * np.pi, size=n)
        return cls(freq=freq, phase=phase, coslat=coslat)

    def __call__(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Values at points (any matching shapes), float64 of the broadcast shape."""
        lat = np.asarray(lat, dtype=np.float64)
        lon = np.asarray(lon, dtype=np.float64) * self.coslat
        shape = np.broadcast(lat, lon).shape
        lat, lon = np.broadcast_to(lat, shape).ravel(), np.broadcast_to(lon, shape).ravel()
        out = np.zeros(lat.size)
        scale = np.sqrt(2.0 / len(self.phase))
        for (fy, fx), ph in zip(self.freq, self.phase, strict=True):
            out += np.cos(2 * np.pi * (fy * lat + fx * lon) + ph)
        return (out * scale).reshape(shape)


def ar1_series(rng: np.random.Generator, n: int, rho: float, size: tuple[int, ...] = ()) -> np.ndarray:
    """Stationary AR(1) series of unit variance along the last axis: shape ``size + (n,)``."""
    noise = rng.normal(size=size + (n,))
    out = np.empty_like(noise)
    out[..., 0] = noise[..., 0]
    innov = np.sqrt(1.0 - rho**2)
    for t in range(1, n):
        out[..., t] = rho * out[..., t - 1] + innov * noise[..., t]
    return out


def exponential_smooth(series: np.ndarray, tau: float) -> np.ndarray:
    """Causal exponential smoothing along the last axis with time constant ``tau`` steps, rescaled to
    unit variance (a slow 'memory' of a process, e.g. soil moisture of rain)."""
    a = np.exp(-1.0 / tau)
    out = np.empty_like(series)
    out[..., 0] = series[..., 0]
    for t in range(1, series.shape[-1]):
        out[..., t] = a * out[..., t - 1] + (1 - a) * series[..., t]
    return out / max(float(out.std()), 1e-9)
