"""Contrastive pretraining of the transfer encoder on patches of the coarse series, optionally with
semivariogram-weighted negatives (Chen et al., "Enhancing Contrastive Learning for Geolocalization by
Discovering Hard Negatives on Semivariograms", https://arxiv.org/abs/2509.21573).

A batch holds B patches (random time step, random place) of the coarse field on the fine grid, each seen
twice (shifted by up to one point, with independent Gaussian noise). The encoder's pooled coarsest features
go through a projection head to unit embeddings; InfoNCE pulls the two views of a patch together and pushes
the other patches of the batch away (temperature ``tau``).

Semivariogram variant: per batch, the feature dissimilarity of two patches f_ij = (1 - cos_ij) / 2 is related
to their geographic distance d_ij (km) by an exponential semivariogram gamma(d) = c0 + c1 (1 - exp(-d / r))
fitted by least squares (r on a grid of candidate ranges, c0 and c1 non-negative). gamma(d_ij) is the expected
dissimilarity at that distance. Negatives closer than r and more similar than expected are probable false
negatives and get weight f_ij / gamma(d_ij) < 1; negatives farther than r and more similar than expected are
hard negatives and get weight 1 + (gamma - f) / gamma (at most 2); all others weight 1. The weights multiply
the negatives' terms in the InfoNCE denominator.
"""

from __future__ import annotations

from terraflux.evaluate.semivariogram import EARTH_RADIUS_KM
from terraflux.spatial.unet import Autoencoder

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class ProjectionHead(nn.Module):
    """Pooled coarsest encoder features [B, F] -> unit embeddings [B, dim]."""

    def __init__(self, n_features: int, dim: int = 32):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_features, n_features), nn.SiLU(), nn.Linear(n_features, dim))

    def forward(self, h):
        return F.normalize(self.net(h), dim=1)


def embed(model: Autoencoder, head: ProjectionHead, x: torch.Tensor) -> torch.Tensor:
    return head(model.encoder(x)[2].mean(dim=(2, 3)))


def patches(coarse: np.ndarray, lat, lon, times: np.ndarray, size: int, noise: float, rng: np.random.Generator):
    """Two views [B, V, size, size] of patches of ``coarse`` [T, V, y, x] at time steps ``times`` [B] and
    random places, and the patch centres' latitude and longitude [B] (degrees, from the fine grid's 2-D
    ``lat``, ``lon``)."""
    _, _, ny, nx = coarse.shape
    if ny < size + 2 or nx < size + 2:
        raise ValueError(f"patches of {size} points need a grid of at least {size + 2} x {size + 2}, not {ny} x {nx}")
    batch = len(times)
    iy = rng.integers(1, ny - size - 1, batch)
    ix = rng.integers(1, nx - size - 1, batch)
    dy, dx = rng.integers(-1, 2, batch), rng.integers(-1, 2, batch)
    a = np.stack([coarse[k, :, y : y + size, x : x + size] for k, y, x in zip(times, iy, ix, strict=True)])
    b = np.stack(
        [
            coarse[k, :, y + u : y + u + size, x + v : x + v + size]
            for k, y, x, u, v in zip(times, iy, ix, dy, dx, strict=True)
        ]
    )
    a = a + noise * rng.standard_normal(a.shape)
    b = b + noise * rng.standard_normal(b.shape)
    cy, cx = iy + size // 2, ix + size // 2
    return a.astype(np.float32), b.astype(np.float32), lat[cy, cx], lon[cy, cx]


def distances_km(lat, lon) -> np.ndarray:
    """Great-circle distances [B, B] (km) between points (degrees)."""
    p, q = np.radians(lat)[:, None], np.radians(lat)[None, :]
    dl = np.radians(lon)[:, None] - np.radians(lon)[None, :]
    a = np.sin((q - p) / 2) ** 2 + np.cos(p) * np.cos(q) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def fit_exponential(d: np.ndarray, f: np.ndarray, ranges: np.ndarray) -> tuple[float, float, float]:
    """Least-squares gamma(d) = c0 + c1 (1 - exp(-d / r)) over pairs (d, f); r from ``ranges``, c0, c1 >= 0.
    Returns (c0, c1, r)."""
    best = (float(f.mean()), 0.0, float(ranges[0]), np.inf)
    for r in ranges:
        basis = np.stack([np.ones_like(d), 1 - np.exp(-d / r)], axis=1)
        coef, *_ = np.linalg.lstsq(basis, f, rcond=None)
        coef = np.maximum(coef, 0.0)
        err = float(np.sum((basis @ coef - f) ** 2))
        if err < best[3]:
            best = (float(coef[0]), float(coef[1]), float(r), err)
    return best[:3]


def negative_weights(z: torch.Tensor, dist_km: np.ndarray) -> torch.Tensor:
    """Semivariogram weights [B, B] of the negatives of embeddings ``z`` [B, D] (module docstring): the
    semivariogram fitted to this batch, then :func:`semivariogram_weights`."""
    with torch.no_grad():
        f = ((1 - z @ z.T) / 2).numpy().astype(np.float64)
    off = ~np.eye(len(f), dtype=bool)
    positive = dist_km[off][dist_km[off] > 0]
    scale = float(np.median(positive)) if positive.size else 1.0
    fit = fit_exponential(dist_km[off], f[off], scale * np.array([0.25, 0.5, 1.0, 2.0, 4.0]))
    return torch.from_numpy(semivariogram_weights(f, dist_km, fit).astype(np.float32))


def semivariogram_weights(f: np.ndarray, dist_km: np.ndarray, fit: tuple[float, float, float]) -> np.ndarray:
    """Weights [B, B] from feature dissimilarities ``f`` and distances ``dist_km`` [B, B] given the
    semivariogram ``fit`` (c0, c1, r): below 1 for near pairs more similar than expected (false negatives),
    above 1 (at most 2) for far pairs more similar than expected (hard negatives), else 1; diagonal 1."""
    c0, c1, r = fit
    expected = np.maximum(c0 + c1 * (1 - np.exp(-dist_km / r)), 1e-6)
    similar = f < expected
    w = np.ones_like(f, dtype=np.float64)
    near, far = similar & (dist_km < r), similar & (dist_km >= r)
    w[near] = f[near] / expected[near]
    w[far] = 1 + (expected[far] - f[far]) / expected[far]
    np.fill_diagonal(w, 1.0)
    return w


def info_nce(za: torch.Tensor, zb: torch.Tensor, tau: float, weights: torch.Tensor | None = None) -> torch.Tensor:
    """InfoNCE of paired views [B, D] (row i of ``za`` matches row i of ``zb``); ``weights`` [B, B] scale the
    negatives' terms in the denominator (None: all 1)."""
    logits = za @ zb.T / tau
    pos = logits.diagonal()
    w = torch.ones_like(logits) if weights is None else weights
    eye = torch.eye(len(za), dtype=torch.bool)
    denom = torch.logsumexp(torch.where(eye, logits, logits + torch.log(w.clamp_min(1e-6))), dim=1)
    return (denom - pos).mean()
