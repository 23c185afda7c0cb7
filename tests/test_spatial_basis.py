"""Basis-function interpolation (terraflux.spatial.basis): EOFs, gap filling, the coefficient network."""

import terraflux  # noqa: F401  (native libraries in a safe order)
from terraflux.spatial import basis

import numpy as np
import pandas as pd
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


def site_world(n_sites=14, n_months=36, seed=4):
    """Sites whose residuals to a prior are two EOFs times coefficients linear in one covariate."""
    rng = np.random.default_rng(seed)
    times = pd.date_range("2016-01-01", periods=n_months, freq="MS")
    ids = [f"S{i:02d}" for i in range(n_sites)]
    covariate = rng.normal(0, 1, n_sites)
    t = np.arange(n_months)
    phi = np.stack([np.sin(2 * np.pi * t / 12), np.cos(2 * np.pi * t / 12)], axis=1)
    coef = np.stack([covariate, 0.5 - 0.3 * covariate], axis=1)
    prior = 2.0 + np.sin(2 * np.pi * t / 12)[:, None] * np.ones(n_sites)
    truth = prior + 0.2 * covariate[None] + phi @ coef.T
    long = lambda a: pd.DataFrame(  # noqa: E731
        {"site_id": np.repeat([ids], n_months, 0).ravel(), "time": np.repeat(times, n_sites), "value": a.ravel()}
    )
    covs = pd.DataFrame({"c": covariate, "d": covariate**2}, index=ids)
    return long(prior), long(truth), covs, ids


CFG = {"n_basis": 2, "min_months": 6, "hidden": 32, "steps": 400, "lr": 1e-2, "weight_decay": 0.0}


def test_basis_labels_keep_observations_and_fill_gaps_from_the_eofs():
    from terraflux.spatial import basis_labels as bl

    prior, truth, covs, ids = site_world()
    rng = np.random.default_rng(5)
    gaps = rng.random(len(truth)) < 0.15
    observed = truth[~gaps]
    train = ids[:10]
    fit = bl.fit_flux(observed, prior, covs, train, CFG, seed=0)
    assert fit.site_ids == train and fit.basis.eofs.shape == (36, 2)
    labels = bl.site_labels(fit, prior, observed, "NEE")
    assert list(labels.columns) == ["site_id", "time", "variable", "value", "std", "imputed", "reliable"]
    assert set(labels["site_id"]) == set(train) and len(labels) == 10 * 36  # training sites only
    merged = labels.merge(truth, on=["site_id", "time"], suffixes=("", "_true"))
    kept = merged[~merged["imputed"]]
    np.testing.assert_array_equal(kept["value"], kept["value_true"])
    assert (kept["std"] == 0).all()
    filled = merged[merged["imputed"]]
    assert len(filled) > 0
    # the residuals are exactly rank 2 (mean + 2 EOFs): the gaps come back up to the SVD iteration's tolerance
    np.testing.assert_allclose(filled["value"], filled["value_true"], atol=1e-6)
    # other sites through the covariate network: close to their truth
    targets = truth[truth["site_id"].isin(ids[10:])][["site_id", "time"]]
    mean, std = bl.point_predictions(fit, targets, prior, covs)
    err = mean - truth[truth["site_id"].isin(ids[10:])]["value"].to_numpy()
    assert np.sqrt(np.mean(err**2)) < 0.25 * truth["value"].std()
    assert (std == fit.std_spatial).all()


def test_basis_holdout_samples_have_the_step5_layout_around_the_label_mean():
    from terraflux.spatial import basis_labels as bl

    prior, truth, covs, ids = site_world()
    hidden = truth[truth["site_id"].isin(ids[10:12])].rename(columns={"value": "observation"}).head(20)
    fit = bl.fit_flux(truth[~truth.index.isin(hidden.index)], prior, covs, ids[:10], CFG, seed=0)
    n = 400
    long = bl.holdout_samples(fit, hidden, prior, covs, "NEE", n, np.random.default_rng(1))
    step5 = ["site_id", "time", "variable", "observation", "sample", "value"]
    assert set(step5) <= set(long.columns) and "label" in long and len(long) == n * len(hidden)
    samples = long.pivot_table(index=["site_id", "time"], columns="sample", values="value")
    mean, std = bl.point_predictions(fit, hidden, prior, covs)
    order = pd.MultiIndex.from_frame(hidden[["site_id", "time"]])
    np.testing.assert_array_equal(long.groupby(["site_id", "time"])["label"].first().reindex(order), mean)
    # n Gaussian draws of std s: the sample mean lies within 5 standard errors s / sqrt(n) of the label
    assert np.all(np.abs(samples.reindex(order).mean(axis=1).to_numpy() - mean) < 5 * std / np.sqrt(n))
