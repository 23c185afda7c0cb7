"""Spatially separated site folds and the buffer around held-out sites."""

from functools import partial

import terraflux  # noqa: F401
from terraflux.dere import folds, predict, stages
from terraflux.dere.dataset import build_dataset
from terraflux.errors import DataError
from terraflux.evaluate.kriging import _great_circle
from terraflux.train import select_device

import numpy as np
import pytest
import torch
from test_dere import _build


def test_folds_recover_separated_groups_and_are_deterministic():
    rng = np.random.default_rng(0)
    centres = [(46.2, 8.3), (46.3, 10.8), (47.8, 9.5)]  # three groups about 150-200 km apart
    lat = np.concatenate([c[0] + rng.normal(0, 0.05, 5) for c in centres])
    lon = np.concatenate([c[1] + rng.normal(0, 0.05, 5) for c in centres])
    x = rng.normal(size=(15, 24, 3))  # the same driver distribution everywhere: distance decides
    variogram = {"range_km": 60.0, "sill": 1.0, "nugget": 0.0}
    fold = folds.spatial_folds(lat, lon, x, variogram, 3)
    assert [set(fold[i * 5 : i * 5 + 5]) for i in range(3)] == [{0}, {1}, {2}]
    np.testing.assert_array_equal(folds.spatial_folds(lat, lon, x, variogram, 3), fold)
    # the feature term: one group whose drivers differ strongly is split off first
    x2 = x.copy()
    x2[:3] += 5.0
    assert len(set(folds.spatial_folds(lat, lon, x2, variogram, 2)[:5])) == 2
    with pytest.raises(DataError, match="folds"):
        folds.spatial_folds(lat, lon, x, variogram, 1)


def test_wasserstein_distance_of_shifted_distributions():
    x = np.random.default_rng(1).normal(size=(2, 50, 1))
    x[1] = x[0] + 2.0  # a shift by 2: W2 = 2 whatever the distribution
    np.testing.assert_allclose(folds.wasserstein_distances(x)[0, 1], 2.0, rtol=1e-12)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("world"))


def test_spatial_split_keeps_training_sites_and_cells_out_of_the_buffer(world):
    drivers, pft, process, sites, insitu, args = world
    spatial = partial(folds.spatial_split, n_folds=4, buffer_km=30.0, min_train_share=0.5)
    ds = build_dataset(drivers, pft, process, sites, insitu, **args, spatial_split=spatial)
    assert ds.attrs["split_method"] == "spatial" and ds.attrs["buffer_km"] == 30.0
    assert ds.attrs["variogram_range_km"] > 0
    site_split, cell_split = ds["site_split"].values.astype(str), ds["cell_split"].values.astype(str)
    assert set(ds["site_fold"].values) == {0, 1, 2, 3}
    assert set(site_split[ds["site_fold"].values == 0]) == {"test"}
    sizes = np.bincount(ds["site_fold"].values)
    val_folds = set(ds["site_fold"].values[site_split == "val"])
    assert len(val_folds) == 1 and sizes[val_folds.pop()] == sizes[1:].min()  # the smallest other fold validates
    lat, lon = ds["cell_latitude"].values, ds["cell_longitude"].values
    site_cell = ds["site_cell"].values
    held = np.isin(site_split, ["test", "val"])
    d_sites = _great_circle(lat[site_cell], lon[site_cell], lat[site_cell[held]], lon[site_cell[held]])
    assert (d_sites[site_split == "train"] > 30.0).all()  # no training site within the buffer
    d_cells = _great_circle(lat, lon, lat[site_cell[site_split == "test"]], lon[site_cell[site_split == "test"]])
    assert (cell_split[(d_cells <= 30.0).any(1)] == "test").all()  # no training cell near a test site
    assert (site_split == "train").any() and (cell_split == "train").any()
    with pytest.raises(DataError, match="buffer"):
        wide = partial(folds.spatial_split, n_folds=4, buffer_km=1e4, min_train_share=0.5)
        build_dataset(drivers, pft, process, sites, insitu, **args, spatial_split=wide)


def _assert_k_fold(ds, buffer_km: float):
    """Every site tested in exactly one fold (its own), validated by one other fold, and no training site within
    ``buffer_km`` of a held-out site of the same fold."""
    fold_split = ds["fold_site_split"].values.astype(str)  # [folds, S]
    site_fold = ds["site_fold"].values
    assert (fold_split == "test").sum(0).tolist() == [1] * ds.sizes["site"]
    np.testing.assert_array_equal(np.argmax(fold_split == "test", 0), site_fold)
    np.testing.assert_array_equal(fold_split[0], ds["site_split"].values.astype(str))
    lat, lon = ds["cell_latitude"].values, ds["cell_longitude"].values
    site_lat, site_lon = lat[ds["site_cell"].values], lon[ds["site_cell"].values]
    for split in fold_split:
        held = np.isin(split, ["test", "val"])
        assert len(set(site_fold[split == "val"])) == 1 and (split == "train").any()
        d = _great_circle(site_lat, site_lon, site_lat[held], site_lon[held])
        assert (d[split == "train"] > buffer_km).all()


def test_k_fold_over_sites_spatial_and_random(world):
    drivers, pft, process, sites, insitu, args = world
    spatial = partial(folds.spatial_split, n_folds=3, buffer_km=20.0, min_train_share=0.5)
    ds = build_dataset(drivers, pft, process, sites, insitu, **args, spatial_split=spatial)
    _assert_k_fold(ds, 20.0)
    again = build_dataset(drivers, pft, process, sites, insitu, **args, spatial_split=spatial)
    np.testing.assert_array_equal(again["fold_site_split"].values, ds["fold_site_split"].values)
    # random folds: balanced, no buffer, a pure function of the seed
    ds = build_dataset(drivers, pft, process, sites, insitu, **args)
    _assert_k_fold(ds, -1.0)
    assert np.ptp(np.bincount(ds["site_fold"].values)) <= 1
    again = build_dataset(drivers, pft, process, sites, insitu, **args)
    np.testing.assert_array_equal(again["site_fold"].values, ds["site_fold"].values)
    other = build_dataset(drivers, pft, process, sites, insitu, **{**args, "seed": 4})
    assert (other["site_fold"].values != ds["site_fold"].values).any()


def test_capped_buffer_keeps_the_share_of_training_sites():
    rng = np.random.default_rng(2)
    lat, lon = 46 + rng.uniform(0, 1.5, 16), 8 + rng.uniform(0, 2.5, 16)  # about 150 x 200 km
    site_fold = rng.permutation(np.arange(16) % 4)
    h = _great_circle(lat, lon, lat, lon)
    for share in (0.0, 0.5, 1.0):
        radius = folds.capped_buffer(lat, lon, site_fold, 1094.0, share)
        for k in range(4):
            held = np.isin(site_fold, [k, folds.validation_fold(site_fold, k)])
            nearest = h[~held][:, held].min(1)
            assert (nearest > radius).sum() >= np.ceil(share * len(nearest))
        assert radius < 300.0  # the region spans about 250 km: far below the range
    # the cap is the largest candidate: in some fold, the next distance above it would drop below the share
    radius = folds.capped_buffer(lat, lon, site_fold, 1094.0, 0.5)
    broken = []
    for k in range(4):
        held = np.isin(site_fold, [k, folds.validation_fold(site_fold, k)])
        nearest = h[~held][:, held].min(1)
        beyond = nearest[nearest > radius]
        broken.append(len(beyond) > 0 and (nearest > beyond.min()).sum() < np.ceil(0.5 * len(nearest)))
    assert any(broken)
    # a range shorter than every cap is kept as it is
    assert folds.capped_buffer(lat, lon, site_fold, 1.0, 0.5) == 1.0


def test_fold_tensors_use_their_training_sites_statistics(world):
    from terraflux.dere.dataset import DereTensors

    drivers, pft, process, sites, insitu, args = world
    data = DereTensors.from_dataset(build_dataset(drivers, pft, process, sites, insitu, **args))
    for k in range(data.n_folds):
        fold = data.fold(k)
        assert (fold.site_split == data.ds["fold_site_split"].values[k].astype(str)).all()
        train = fold.insitu[fold.sites("train")].numpy()
        np.testing.assert_allclose(fold.insitu_mean.numpy(), np.nanmean(train, (0, 1)), rtol=1e-5)
    np.testing.assert_array_equal(data.fold(0).insitu_mean.numpy(), data.insitu_mean.numpy())


def test_k_fold_training_pools_each_site_once(world, tmp_path):
    from terraflux.dere.dataset import DereTensors

    from test_dere import TINY

    drivers, pft, process, sites, insitu, args = world
    data = DereTensors.from_dataset(build_dataset(drivers, pft, process, sites, insitu, **args))
    ctx = stages.Context(select_device("cpu"), 5, tmp_path, "fp")
    seen = {}

    def train(fold, fold_ctx, k):
        seen[k] = (fold.site_split.copy(), fold_ctx.resume_dir)
        return stages.comparison(fold, TINY, fold_ctx, "itransformer", "baseline")

    results = stages.over_folds(data, ctx, list(range(data.n_folds)), train)
    assert sorted(results) == [0, 1, 2] and len({d for _, d in seen.values()}) == 3  # one resume folder per fold
    predictions = {k: r.predictions for k, r in results.items()}
    pooled, fold, pooled_data = predict.pooled_held_out(predictions, data)
    site_fold = data.ds["site_fold"].values
    np.testing.assert_array_equal(fold, site_fold)  # every site pooled once, from the fold that tested it
    for s in range(len(fold)):
        np.testing.assert_array_equal(pooled[s], predictions[site_fold[s]][s])
        assert seen[site_fold[s]][0][s] == "test"  # ... whose model did not train on it
    scores = predict.held_out_site_scores(pooled, pooled_data)
    assert scores["all"]["NEE"]["n"] == int(np.isfinite(data.insitu[..., 2].numpy()).sum())
    # two folds only: the other folds' sites are left out
    pooled, fold, pooled_data = predict.pooled_held_out({k: predictions[k] for k in (0, 2)}, data)
    assert np.isnan(pooled[site_fold == 1]).all() and (fold[site_fold == 1] == -1).all()
    assert set(pooled_data.site_split[site_fold == 1]) == {"untested"}
    fold_scores = {k: predict.held_out_site_scores(p, data.fold(k))["all"] for k, p in predictions.items()}
    spread, _ = predict.seed_and_fold_spread({0: fold_scores})
    rmse = [s["NEE"]["rmse"] for s in fold_scores.values()]
    assert spread["NEE"]["rmse"]["mean"] == pytest.approx(np.mean(rmse), rel=1e-12)
    assert spread["NEE"]["rmse"]["std"] == pytest.approx(np.std(rmse, ddof=1), rel=1e-12)
    assert predict.spread([fold_scores[0]])["NEE"]["rmse"]["std"] is None


def test_seed_and_fold_spread_separates_the_two_sources_of_variation():
    """rmse[seed][fold] = fold effect + seed effect: the fold spread sees the fold effects only (averaged over
    seeds), the seed spread the seed effects only (averaged over folds)."""
    fold_effect, seed_effect = np.array([1.0, 2.0, 4.0]), np.array([0.0, 0.3])
    scores = {
        s: {k: {"NEE": {"rmse": f + e, "n": 10}} for k, f in enumerate(fold_effect)} for s, e in enumerate(seed_effect)
    }
    over_folds, over_seeds = predict.seed_and_fold_spread(scores)
    mean = fold_effect.mean() + seed_effect.mean()
    assert over_folds["NEE"]["rmse"]["mean"] == pytest.approx(mean) == over_seeds["NEE"]["rmse"]["mean"]
    assert over_folds["NEE"]["rmse"]["std"] == pytest.approx(np.std(fold_effect, ddof=1))
    assert over_seeds["NEE"]["rmse"]["std"] == pytest.approx(np.std(seed_effect, ddof=1))
    assert "n" not in over_folds["NEE"]
    one_seed = predict.seed_and_fold_spread({0: scores[0]})
    assert one_seed[1]["NEE"]["rmse"]["std"] is None and one_seed[0]["NEE"]["rmse"]["std"] == pytest.approx(1.5275252)


def test_over_seeds_reseeds_each_training_seed(tmp_path):
    """Seed 0 trains in the stage's own context; seed s > 0 in a derived seed with its own resume folder, and
    every generator starts from that seed (so a seed's run does not depend on the seeds before it)."""
    ctx = stages.Context(select_device("cpu"), 5, tmp_path, "fp")

    def draw(seed_ctx):
        return seed_ctx, torch.rand(3)

    runs = stages.over_seeds(ctx, 3, draw)
    assert sorted(runs) == [0, 1, 2] and runs[0][0] is ctx
    assert [r[0].resume_dir for r in runs.values()] == [tmp_path, tmp_path / "seed1", tmp_path / "seed2"]
    assert len({r[0].seed for r in runs.values()}) == 3 and {r[0].fingerprint for r in runs.values()} == {"fp"}
    again = stages.over_seeds(ctx, 3, draw)
    for s in (1, 2):
        assert torch.equal(runs[s][1], again[s][1])
    assert not torch.equal(runs[1][1], runs[2][1])
