"""CSDI: masks, loss on hidden target points only, batched samplers (ancestral and strided DDIM), seeded hold-out."""

import terraflux  # noqa: F401
from terraflux.csdi.impute import (
    baseline_estimates,
    expanded_labels,
    hide_mask,
    hold_out,
    holdout_scores,
    series,
    train,
)
from terraflux.csdi.model import CSDI, CSDIConfig
from terraflux.csdi.sample import ddim_schedule, sample_ancestral, sample_ddim
from terraflux.train import make_generator, select_device

import numpy as np
import pytest
import torch

CFG = {
    "layers": 1,
    "channels": 8,
    "heads": 2,
    "diffusion_embedding": 16,
    "time_embedding": 8,
    "feature_embedding": 4,
    "num_steps": 10,
    "beta_start": 1e-4,
    "beta_end": 0.5,
    "n_samples": 6,
    "epochs": 2,
    "repeats": 1,
    "batch_size": 4,
    "lr": 1e-3,
    "well_observed_months": 9,
    "hide_per_year": 3,
    "sampler": "ddim",
    "ddim_steps": 4,
    "ddim_eta": 1.0,
    "point": "median",
}


def test_hide_mask_rules():
    observed = torch.ones(2, 24, dtype=torch.bool)
    observed[1, :] = torch.rand(24, generator=make_generator(0)) > 0.5  # sparse years
    observed[1, 12:] = False
    observed[1, 12:14] = True
    hidden = hide_mask(observed, 12, 9, 3, make_generator(1))
    assert (hidden <= observed).all()
    assert hidden[0].tolist() == ([True] * 6 + [False] * 6) * 2  # well-observed years: first half
    assert int(hidden[1, 12:].sum()) == 2 and int(hidden[1, :12].sum()) == min(3, int(observed[1, :12].sum()))


def test_loss_counts_only_hidden_target_points():
    torch.manual_seed(0)
    model = CSDI(3, CSDIConfig.from_dict(CFG))
    x = torch.randn(2, 3, 12)
    observed = torch.ones_like(x)
    with torch.no_grad():
        assert float(model.loss(x, observed, observed.clone())) == 0.0  # nothing hidden -> no loss
    cond = observed.clone()
    cond[:, 1, :4] = 0  # hidden driver channel: not a target
    with torch.no_grad():
        assert float(model.loss(x, observed, cond)) == 0.0
    cond[:, 0, :4] = 0
    assert float(model.loss(x, observed, cond)) > 0


def test_samplers_are_batched_and_keep_conditions():
    torch.manual_seed(0)
    model = CSDI(3, CSDIConfig.from_dict(CFG)).eval()
    x = torch.randn(2, 3, 12)
    cond = torch.ones_like(x)
    cond[:, 0, 3:7] = 0
    calls = []
    model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    s = sample_ancestral(model, x, cond, 5, make_generator(0))
    assert s.shape == (5, 2, 3, 12) and calls == [10] * 10  # one batched call per step for all samples
    torch.testing.assert_close(s[:, :, 0, :3], x[None, :, 0, :3].expand(5, -1, -1))
    calls.clear()
    d1 = sample_ddim(model, x, cond, 5, make_generator(0), 4, eta=0.0)
    d2 = sample_ddim(model, x, cond, 5, make_generator(0), 4, eta=0.0)
    assert calls == [10] * 4 * 2 and torch.equal(d1, d2)
    e1, e2 = (sample_ddim(model, x, cond, 5, make_generator(0), 4, eta=1.0) for _ in range(2))
    assert torch.equal(e1, e2) and not torch.equal(e1, d1)  # eta = 1: seeded noise on the strided steps
    assert ddim_schedule(50, 10)[0] == 49 and ddim_schedule(50, 10)[-1] == 0 and len(ddim_schedule(50, 10)) == 10
    with pytest.raises(ValueError):
        ddim_schedule(10, 11)


def test_samplers_bound_the_clean_estimate_of_an_imperfect_model():
    """Regression: with the 1e-4 -> 0.5 schedule over 50 steps alpha_hat ends near 3e-5, so the ancestral chain
    of a model with a small noise error drifted to ~100 normalised units (NEE errors of 5-10 gC m-2 d-1). An
    untrained CSDI (zero output: noise estimate 0) is such a model; samples must stay within the clip."""
    torch.manual_seed(0)
    model = CSDI(2, CSDIConfig.from_dict({**CFG, "num_steps": 50})).eval()
    x = torch.randn(1, 2, 12)
    cond = torch.ones_like(x)
    cond[:, 0, 4:8] = 0
    for fn in (
        lambda c: sample_ancestral(model, x, cond, 4, make_generator(0), clip=c),
        lambda c: sample_ddim(model, x, cond, 4, make_generator(0), 10, eta=0.0, clip=c),
    ):
        assert float(fn(5.0)[:, :, 0, 4:8].abs().max()) <= 5.0 + 1e-3
        assert float(fn(0.0)[:, :, 0, 4:8].abs().max()) > 20  # unclipped: the drift this guards against


def test_baseline_estimates_ignore_hidden_points():
    t = np.arange(24)
    flux = np.sin(2 * np.pi * t / 12)[None].repeat(2, 0) + np.array([[0.0], [1.0]])
    flux[1, 2] = np.nan  # a gap
    hidden = np.zeros_like(flux, dtype=bool)
    hidden[:, 4:6] = True
    hidden[0, 16:18] = True
    corrupt = np.where(hidden, 100.0, flux)  # hidden values must not leak into the estimates
    est = baseline_estimates(corrupt, hidden, 12)
    np.testing.assert_allclose(
        est["seasonal_cycle"][1, 4:6], flux[1, 16:18], atol=1e-12
    )  # same calendar month, other year
    np.testing.assert_allclose(est["linear"][0, 4:6], flux[0, 3] + (flux[0, 6] - flux[0, 3]) * np.array([1, 2]) / 3)
    months = [m for m in range(12) if m not in (4, 5)]  # months 4, 5 hidden in both years of site 0: its mean cycle
    np.testing.assert_allclose(
        est["seasonal_cycle"][0, [4, 17]], np.mean(np.sin(2 * np.pi * np.array(months) / 12)), atol=1e-12
    )


def test_train_evaluate_and_expanded_labels(tmp_path):
    torch.manual_seed(0)
    months = torch.arange(36.0)
    flux = (torch.sin(2 * np.pi * months / 12) * 3 + 2).repeat(8, 1) + 0.1 * torch.randn(8, 36)
    flux[torch.rand(8, 36) < 0.3] = float("nan")
    drivers = torch.sin(2 * np.pi * months / 12)[None, :, None].repeat(8, 1, 2)
    x, observed = series(flux, 2.0, 3.0, drivers)
    assert x.shape == (8, 3, 36) and torch.equal(observed[:, 0].bool(), torch.isfinite(flux))
    train_cfg = {"patience": 0, "grad_clip": 1.0, "checkpoint_every": 5}
    model, fit = train(
        x,
        observed,
        torch.arange(6),
        torch.arange(6, 8),
        CFG,
        train_cfg,
        12,
        device=select_device("cpu"),
        seed=1,
        resume_path=tmp_path / "r.pt",
        fingerprint="t",
    )
    assert fit.steps == 4 and np.isfinite(fit.best_val)
    held, hidden = hold_out(model, x, observed, torch.arange(6, 8), CFG, 12, 2.0, 3.0, seed=2)
    assert held.shape == (6, 2, 36) and (hidden <= observed[6:8, 0].bool()).all()
    kept = observed[6:8, 0].bool() & ~hidden
    torch.testing.assert_close(held[:, kept], (x[6:8, 0][kept] * 3.0 + 2.0).expand(6, -1))  # given points stay the data
    scores = holdout_scores(held.numpy(), flux[6:8].numpy(), hidden.numpy(), 12, "median")
    assert set(scores["baselines"]) == {"seasonal_cycle", "linear"} and scores["baselines"]["linear"]["rmse"] > 0
    assert scores["n"] == hidden.sum() > 0 and np.isfinite(scores["crps"]) and scores["crps_quantile"] > 0
    again, _ = hold_out(model, x, observed, torch.arange(6, 8), CFG, 12, 2.0, 3.0, seed=2)
    assert torch.equal(held, again)  # the hold-out is seeded
    samples = np.random.default_rng(0).normal(1.0, 0.5, (20, 8, 36))
    labels, std, imputed = expanded_labels(flux.numpy(), samples, "mean")
    obs = np.isfinite(flux.numpy())
    np.testing.assert_array_equal(labels[obs], flux.numpy()[obs])
    assert (std[obs] == 0).all() and (std[~obs] > 0).all() and np.isfinite(labels).all()
    np.testing.assert_array_equal(imputed, ~obs)
