"""Spatially separated site folds and the buffer around held-out sites."""

from functools import partial

import terraflux  # noqa: F401
from terraflux.dere import folds
from terraflux.dere.dataset import build_dataset
from terraflux.errors import DataError
from terraflux.evaluate.kriging import _great_circle

import numpy as np
import pytest
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
    spatial = partial(folds.spatial_split, n_folds=4, buffer_km=30.0)
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
        wide = partial(folds.spatial_split, n_folds=4, buffer_km=1e4)
        build_dataset(drivers, pft, process, sites, insitu, **args, spatial_split=wide)
