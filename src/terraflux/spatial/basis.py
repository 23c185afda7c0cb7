"""Basis-function spatio-temporal interpolation (Amato et al., "A Novel Framework for Spatio-Temporal
Prediction of Climate Data Using Deep Learning", https://arxiv.org/abs/2007.11836).

A field observed at S irregular points over T times, Z [T, S] (NaN gaps), is written as

    Z(t, s) = m(s) + sum_k phi_k(t) c_k(s),

with temporal basis functions phi_k (the leading empirical orthogonal functions of the site series, [T, K])
and spatial coefficients c_k(s) (with the mean m(s), [S, K + 1]). The EOFs of a gappy matrix come from an
iterated truncated SVD (gaps filled with the current rank-K reconstruction until it stops changing). The
coefficients at a new location are modelled from its covariates by a small neural network trained on the
sites' coefficients; the field anywhere is then the sum above.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class Basis:
    """``mean`` [S], ``eofs`` [T, K] (orthonormal columns), ``coefficients`` [S, K], ``singular`` [K]."""

    mean: np.ndarray
    eofs: np.ndarray
    coefficients: np.ndarray
    singular: np.ndarray

    def reconstruct(self, mean=None, coefficients=None) -> np.ndarray:
        """The field [T, N] at N points of ``mean`` [N] and ``coefficients`` [N, K] (default: the sites')."""
        mean = self.mean if mean is None else np.asarray(mean)
        coefficients = self.coefficients if coefficients is None else np.asarray(coefficients)
        return mean[None, :] + self.eofs @ coefficients.T


def fit_basis(field, n_basis: int, *, max_iterations: int = 200, tolerance: float = 1e-10) -> Basis:
    """EOF basis of ``field`` [T, S] (NaN gaps) with ``n_basis`` functions.

    Site means over the valid times; gaps start at the mean and are replaced by the rank-``n_basis``
    reconstruction until the relative change of the filled values is below ``tolerance`` (or
    ``max_iterations``). Without gaps one SVD: a field of rank ``n_basis`` is reconstructed exactly.
    """
    z = np.asarray(field, dtype=np.float64)
    valid = np.isfinite(z)
    if not valid.any(axis=0).all():
        raise ValueError("every site needs at least one valid time step for the basis")
    k = int(n_basis)
    if not 1 <= k <= min(z.shape):
        raise ValueError(f"n_basis {k} must lie in 1..{min(z.shape)} for a {z.shape} field")
    mean = np.nanmean(z, axis=0)
    filled = np.where(valid, z, mean[None, :])
    for _ in range(max_iterations if not valid.all() else 1):
        u, s, vt = np.linalg.svd(filled - mean[None, :], full_matrices=False)
        low = mean[None, :] + (u[:, :k] * s[:k]) @ vt[:k]
        change = np.abs(low[~valid] - filled[~valid]).max() if (~valid).any() else 0.0
        filled = np.where(valid, z, low)
        mean = filled.mean(axis=0)
        if change <= tolerance * max(1.0, float(np.abs(filled).max())):
            break
    u, s, vt = np.linalg.svd(filled - mean[None, :], full_matrices=False)
    return Basis(mean=mean, eofs=u[:, :k], coefficients=(s[:k, None] * vt[:k]).T, singular=s[:k])


class CoefficientNet(nn.Module):
    """MLP covariates [N, P] -> mean and basis coefficients [N, K + 1] (both standardised)."""

    def __init__(self, n_covariates: int, n_out: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_covariates, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, n_out)
        )

    def forward(self, x):
        return self.net(x)


@dataclass
class CoefficientModel:
    """A trained :class:`CoefficientNet` with the standardisation of its inputs and outputs."""

    net: CoefficientNet
    x_mean: np.ndarray
    x_std: np.ndarray
    y_mean: np.ndarray
    y_std: np.ndarray

    @torch.no_grad()
    def predict(self, covariates) -> tuple[np.ndarray, np.ndarray]:
        """Mean [N] and coefficients [N, K] at points with ``covariates`` [N, P]."""
        x = (np.asarray(covariates, dtype=np.float64) - self.x_mean) / self.x_std
        y = self.net(torch.from_numpy(x.astype(np.float32))).numpy() * self.y_std + self.y_mean
        return y[:, 0], y[:, 1:]


def fit_coefficients(
    covariates, basis: Basis, *, hidden: int, steps: int, lr: float, weight_decay: float, seed: int
) -> CoefficientModel:
    """Train the network from the sites' ``covariates`` [S, P] to their mean and coefficients (full-batch
    Adam, ``steps`` steps, mean squared error on standardised targets, seeded)."""
    x = np.asarray(covariates, dtype=np.float64)
    y = np.concatenate([basis.mean[:, None], basis.coefficients], axis=1)
    x_mean, x_std = x.mean(axis=0), x.std(axis=0)
    x_std = np.where(x_std > 0, x_std, 1.0)
    y_mean, y_std = y.mean(axis=0), y.std(axis=0)
    y_std = np.where(y_std > 0, y_std, 1.0)
    torch.manual_seed(seed)
    net = CoefficientNet(x.shape[1], y.shape[1], hidden)
    xt = torch.from_numpy(((x - x_mean) / x_std).astype(np.float32))
    yt = torch.from_numpy(((y - y_mean) / y_std).astype(np.float32))
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        loss = ((net(xt) - yt) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    return CoefficientModel(net, x_mean, x_std, y_mean, y_std)
