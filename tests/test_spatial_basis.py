"""Basis-function interpolation (terraflux.spatial.basis): EOFs, gap filling, the coefficient network."""

import terraflux  # noqa: F401  (native libraries in a safe order)
from terraflux.spatial import basis

import numpy as np
import pytest

EPS64 = np.finfo(np.float64).eps


def two_eof_field(n_time=48, n_sites=15, seed=0):
    """m(s) + phi_1(t) c_1(s) + phi_2(t) c_2(s) with two known temporal patterns."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_time)
    phi = np.stack([np.sin(2 * np.pi * t / 12), np.cos(2 * np.pi * t / 12) + 0.1 * t / n_time], axis=1)
    coef = rng.normal(0, 1, (n_sites, 2))
    mean = rng.normal(5, 1, n_sites)
    return mean[None, :] + phi @ coef.T, phi


def test_a_field_of_two_known_eofs_is_reconstructed_exactly():
    field, phi = two_eof_field()
    b = basis.fit_basis(field, 2)
    scale = np.abs(field).max()
    np.testing.assert_allclose(b.reconstruct(), field, atol=64 * EPS64 * scale * np.sqrt(field.size))
    # the EOFs span the two known (centred) patterns: projecting them on the EOFs loses nothing
    centred = phi - phi.mean(axis=0)
    residual = centred - b.eofs @ (b.eofs.T @ centred)
    assert np.abs(residual).max() <= 1e3 * EPS64 * np.abs(centred).max()
    np.testing.assert_allclose(b.eofs.T @ b.eofs, np.eye(2), atol=64 * EPS64)


def test_gaps_of_a_rank_two_field_are_filled_with_the_truth():
    field, _ = two_eof_field(seed=1)
    rng = np.random.default_rng(2)
    gappy = field.copy()
    gappy[rng.random(field.shape) < 0.1] = np.nan
    b = basis.fit_basis(gappy, 2, max_iterations=5000, tolerance=1e-13)
    # converged to the rank-2 completion: the hidden values come back to the iteration's tolerance
    np.testing.assert_allclose(b.reconstruct(), field, atol=1e-9 * np.abs(field).max())


def test_basis_rejects_bad_input():
    with pytest.raises(ValueError, match="n_basis"):
        basis.fit_basis(np.zeros((4, 3)), 5)
    with pytest.raises(ValueError, match="every site"):
        basis.fit_basis(np.array([[1.0, np.nan], [2.0, np.nan]]), 1)


def test_coefficient_network_learns_a_linear_map_of_the_covariates():
    """Sites whose mean and coefficients are linear in their covariates: held-out sites are predicted."""
    rng = np.random.default_rng(3)
    cov = rng.normal(0, 1, (60, 3))
    coef = cov @ rng.normal(0, 1, (3, 2))
    mean = cov @ rng.normal(0, 1, 3) + 4
    t = np.arange(36)
    phi = np.stack([np.sin(t / 3), np.cos(t / 5)], axis=1)
    field = mean[None] + phi @ coef.T
    train = np.arange(60) < 45
    b = basis.fit_basis(field[:, train], 2)
    model = basis.fit_coefficients(cov[train], b, hidden=32, steps=600, lr=1e-2, weight_decay=0.0, seed=0)
    m, c = model.predict(cov[~train])
    pred = b.reconstruct(m, c)
    err = np.sqrt(np.mean((pred - field[:, ~train]) ** 2))
    assert err < 0.1 * field[:, ~train].std()
