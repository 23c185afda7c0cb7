"""The metrics library: point metrics and their NaN rules, grouped and skill tables, CRPS, ensembles, binary metrics."""

import math

import terraflux  # noqa: F401  (native libraries in a safe order)
from terraflux import metrics

import numpy as np
import pandas as pd
import pytest


def test_point_metrics_by_hand_and_nan_pairs_skipped():
    obs = np.array([1.0, 2.0, 3.0, 4.0, np.nan])
    pred = np.array([1.5, 2.0, 2.0, 5.0, 9.0])
    m = metrics.point_metrics(pred, obs)
    err = np.array([0.5, 0.0, -1.0, 1.0])
    assert m["n"] == 4 and isinstance(m["n"], int)
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean(err**2)))
    assert m["mae"] == pytest.approx(0.625)
    assert m["bias"] == pytest.approx(0.125)
    assert m["nse"] == pytest.approx(1 - np.sum(err**2) / 5.0)
    assert m["r2"] == pytest.approx(np.corrcoef([1.5, 2, 2, 5], [1, 2, 3, 4])[0, 1] ** 2)
    # R2 ignores scale, NSE does not
    scaled = metrics.point_metrics(2 * obs, obs)
    assert scaled["r2"] == pytest.approx(1.0) and scaled["nse"] < 0
    # an infinite value is a gap like NaN
    assert metrics.point_metrics(np.array([1.0, np.inf, 3.0]), np.array([1.0, 2.0, 2.0]))["n"] == 2


def test_undefined_metrics_are_nan():
    one = metrics.point_metrics([2.0, np.nan], [1.0, 5.0])  # one valid pair: errors defined, variance metrics not
    assert one["n"] == 1 and one["rmse"] == 1.0 and one["mae"] == 1.0 and one["bias"] == 1.0
    assert math.isnan(one["r2"]) and math.isnan(one["nse"])
    none = metrics.point_metrics([np.nan], [1.0])
    assert none["n"] == 0 and all(math.isnan(none[k]) for k in ("rmse", "mae", "bias", "r2", "nse"))
    flat_obs = metrics.point_metrics([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])
    assert math.isnan(flat_obs["r2"]) and math.isnan(flat_obs["nse"]) and flat_obs["rmse"] > 0
    flat_pred = metrics.point_metrics([2.0, 2.0, 2.0], [1.0, 2.0, 3.0])
    assert math.isnan(flat_pred["r2"]) and flat_pred["nse"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="differ in size"):
        metrics.point_metrics([1.0, 2.0], [1.0])


def test_grouped_metrics_overall_and_per_label():
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(4, 6, 2))
    pred = obs + rng.normal(0, 0.1, size=obs.shape)
    networks = np.array(["B", "A", "B", "A"])
    out = metrics.grouped_metrics(pred, obs, ["GPP", "NEE"], {"network": networks})
    assert list(out["network"]) == ["A", "B"]
    assert out["all"]["NEE"] == metrics.point_metrics(pred[..., 1], obs[..., 1])
    assert out["network"]["A"]["GPP"] == metrics.point_metrics(pred[[1, 3]][..., 0], obs[[1, 3]][..., 0])


def site_pairs(rng):
    """Monthly pairs of three sites: a good model and a climatology (the mean seasonal cycle)."""
    times = pd.date_range("2016-01-01", periods=36, freq="MS")
    rows = []
    for site, network, igbp in (("A", "FLUXNET2015", "ENF"), ("B", "ICOS", "GRA"), ("C", "ICOS", "ENF")):
        cycle = 5 + 4 * np.sin(2 * np.pi * (times.month - 4) / 12)
        anomaly = rng.normal(0, 1, times.size)
        for model, noise in (("good", 0.1), ("climatology", None)):
            pred = cycle + anomaly + rng.normal(0, noise, times.size) if noise else cycle
            rows.append(
                pd.DataFrame(
                    {
                        "site_id": site,
                        "time": times,
                        "model": model,
                        "variable": "GPP",
                        "network": network,
                        "igbp": igbp,
                        "prediction": pred,
                        "observation": cycle + anomaly,
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def test_skill_table_groups_and_anomaly_skill():
    pairs = site_pairs(np.random.default_rng(0))
    table = metrics.skill_table(pairs)
    overall = table[table["group"] == "all"].set_index("model")
    # A climatology model has high raw R2 (seasonal cycle) but no anomaly skill; the good model has both.
    assert overall.loc["climatology", "r2"] > 0.7
    assert (
        overall.loc["climatology", "anom_r2"] != overall.loc["climatology", "anom_r2"]
        or overall.loc["climatology", "anom_r2"] < 0.05
    )
    assert overall.loc["good", "anom_r2"] > 0.95
    assert set(table["group"]) == {"all", "network", "igbp"}
    icos = table[(table["group"] == "network") & (table["group_value"] == "ICOS") & (table["model"] == "good")].iloc[0]
    assert icos["n_sites"] == 2 and icos["n"] == 72
    # the table's numbers are those of point_metrics on the same pairs
    good = pairs[pairs["model"] == "good"]
    assert overall.loc["good", "rmse"] == metrics.point_metrics(good["prediction"], good["observation"])["rmse"]


def test_seasonal_anomalies_remove_each_sites_cycle():
    times = pd.date_range("2016-01-01", periods=24, freq="MS")
    frame = pd.DataFrame({"site_id": "A", "time": times, "x": np.tile(np.arange(12.0), 2) + np.repeat([0.0, 2.0], 12)})
    anom = metrics.seasonal_anomalies(frame, ["x"])
    np.testing.assert_allclose(anom["x"], np.repeat([-1.0, 1.0], 12))


def crps_gaussian(mean, std, obs):
    """The oracle: closed-form CRPS of N(mean, std^2) (Gneiting and Raftery 2007, eq. 21)."""
    from scipy.stats import norm

    z = (obs - mean) / std
    return std * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / np.sqrt(np.pi))


def test_crps_ensemble_matches_definition_and_gaussian_limit():
    rng = np.random.default_rng(1)
    samples = rng.normal(size=(7, 5))
    obs = rng.normal(size=5)
    brute = np.mean(np.abs(samples - obs), axis=0) - 0.5 * np.mean(
        np.abs(samples[:, None] - samples[None]), axis=(0, 1)
    )
    np.testing.assert_allclose(metrics.crps_ensemble(samples, obs), brute, rtol=1e-12)
    big = rng.normal(2.0, 1.5, size=(20000, 1))
    assert metrics.crps_ensemble(big, np.array([0.5]))[0] == pytest.approx(crps_gaussian(2.0, 1.5, 0.5), rel=0.02)
    raw, norm = metrics.crps_quantiles(big, np.array([0.5]))
    assert raw == pytest.approx(crps_gaussian(2.0, 1.5, 0.5), rel=0.05)
    assert norm == pytest.approx(raw / 0.5)


def test_quantile_crps_and_ensemble_metrics():
    target = np.array([1.0, -1.0])
    exact = np.stack([target] * 50)
    assert metrics.crps_quantiles(exact, target)[0] == pytest.approx(0.0)
    spread = np.linspace(-3, 3, 101)[:, None] + target
    wide, narrow = metrics.crps_quantiles(spread, target), metrics.crps_quantiles(spread * 0.1 + target * 0.9, target)
    assert wide[0] > narrow[0] > 0
    assert wide[1] == pytest.approx(wide[0] * 2 / 2.0)  # sum|target| = 2 over 2 points
    assert math.isnan(metrics.crps_quantiles(exact, np.array([np.nan, np.nan]))[0])
    shifted = exact + 0.5
    scores = metrics.ensemble_metrics(shifted, target, metrics.point_estimate(shifted, "median"))
    assert scores["mae"] == pytest.approx(0.5) and scores["rmse"] == pytest.approx(0.5) and scores["n"] == 2
    assert scores["crps"] == pytest.approx(0.5) and scores["crps_quantile"] == pytest.approx(0.5)


def test_point_estimate_median_averages_the_middle_members():
    samples = np.array([[1.0], [2.0], [4.0], [10.0]], dtype=np.float32)
    assert metrics.point_estimate(samples, "median")[0] == 3.0 and metrics.point_estimate(samples, "mean")[0] == 4.25
    assert metrics.point_estimate(samples, "median").dtype == np.float32
    with pytest.raises(ValueError, match="median"):
        metrics.point_estimate(samples, "mode")


def test_binary_metrics_name_precision_and_recall_correctly():
    pred = np.array([1, 1, 1, 0, 0, 0, 0, 0], bool)
    truth = np.array([1, 0, 0, 1, 1, 1, 0, 0], bool)  # TP 1, FP 2, FN 3, TN 2
    m = metrics.binary_metrics(pred, truth)
    assert m["precision"] == pytest.approx(1 / 3)
    assert m["recall"] == pytest.approx(1 / 4)
    assert m["f1"] == pytest.approx(2 / (2 + 2 + 3))
    assert m["iou"] == pytest.approx(1 / 6)
    assert m["overall_accuracy"] == pytest.approx(3 / 8)
    assert metrics.binary_metrics(pred, truth, valid=np.array([1, 1, 0, 0, 0, 0, 0, 0], bool))["tn"] == 0
    empty = metrics.binary_metrics(np.zeros(3, bool), np.zeros(3, bool))
    assert math.isnan(empty["f1"]) and math.isnan(empty["precision"]) and empty["overall_accuracy"] == 1.0
    per = metrics.driver_metrics(pred.reshape(2, 1, 1, 4), truth.reshape(2, 1, 1, 4), ["a", "b"])
    assert per["pooled"]["tp"] == 1 and per["per_variable"]["a"]["fp"] == 2 and per["per_variable"]["b"]["fn"] == 2
