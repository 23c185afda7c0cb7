"""Downscaling library (terraflux.spatial): pairs, interpolation, U-Net, DDIM, domain distances, and the
stages end to end on a tiny coarsened pair."""

import terraflux  # noqa: F401  (native libraries in a safe order)
from terraflux.errors import ConfigError, DataError
from terraflux.spatial import diffusion, domain
from terraflux.spatial import downscale_data as dd
from terraflux.spatial import frames as fr
from terraflux.spatial.unet import Autoencoder, UNet

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

EPS32 = np.finfo(np.float32).eps
PERIOD = {"train_years": [2016], "val_years": [2017], "test_years": [2018]}


def tiny_store(path, ny=16, nx=20, steps_per_year=12, seed=0):
    """A daily-like store on a regular grid: a moving smooth wave plus a static fine-scale pattern."""
    rng = np.random.default_rng(seed)
    times = pd.DatetimeIndex(
        [d for y in (2016, 2017, 2018) for d in pd.date_range(f"{y}-01-01", periods=steps_per_year, freq="28D")]
    )
    lat = 48.0 - 0.1 * np.arange(ny)
    lon = 8.0 + 0.1 * np.arange(nx)
    static = rng.normal(0, 1, (ny, nx))
    phase = np.arange(len(times))[:, None, None] * 0.3
    wave = np.sin(np.arange(ny)[None, :, None] / 3 + phase) + np.cos(np.arange(nx)[None, None, :] / 4 - phase)
    t2m = 280 + 5 * wave + static[None]
    tp = np.exp(0.5 * wave) * 1e-3
    xr.Dataset(
        {
            "t2m": (("time", "latitude", "longitude"), t2m.astype(np.float32), {"units": "K"}),
            "tp": (("time", "latitude", "longitude"), tp.astype(np.float32), {"units": "m d-1"}),
        },
        coords={"time": times, "latitude": lat, "longitude": lon},
    ).to_zarr(path, zarr_format=3, consolidated=False)
    return path


def test_interpolation_is_exact_for_a_linear_field_and_clamps_outside():
    lat, lon = np.array([47.0, 46.0, 45.0, 44.0]), np.array([8.0, 9.0, 10.0, 11.0])  # latitude descending
    field = (2.0 * lat[:, None] + 3.0 * lon[None, :])[None]
    to_lat, to_lon = np.array([[46.5, 45.25]]), np.array([[8.5, 10.75]])
    for method in ("linear", "cubic"):
        out = dd.interpolate(field, lat, lon, to_lat, to_lon, method)
        np.testing.assert_allclose(out[0], 2 * to_lat + 3 * to_lon, rtol=8 * EPS32)
    outside = dd.interpolate(field, lat, lon, np.array([[48.0]]), np.array([[12.0]]), "linear")
    np.testing.assert_allclose(outside[0, 0, 0], 2 * 47.0 + 3 * 11.0, rtol=8 * EPS32)  # nearest corner


def test_fill_nearest_and_block_mean():
    field = np.array([[[1.0, np.nan], [np.nan, 4.0]]])
    filled = dd.fill_nearest(field)
    assert np.isfinite(filled).all() and filled[0, 0, 0] == 1.0 and filled[0, 1, 1] == 4.0
    blocks = dd.block_mean(np.arange(2 * 8 * 9, dtype=float).reshape(2, 8, 9), 2)
    assert blocks.shape == (2, 4, 4)
    assert blocks[0, 0, 0] == np.mean([0, 1, 9, 10])
    with pytest.raises(ConfigError, match="coarsen_factor"):
        dd.block_mean(np.zeros((1, 12, 16)), 4)


def test_pair_shapes_splits_and_training_statistics(tmp_path):
    path = str(tiny_store(tmp_path / "fine.zarr"))
    pair = [dd.PairVariable("t2m", "t2m"), dd.PairVariable("tp", "tp", 1000.0)]
    ds = dd.build_pair(path, path, pair, PERIOD, 4)
    assert ds["fine"].shape == (2, 36, 16, 20) and ds["coarse"].shape == (2, 36, 4, 5)
    assert ds["bilinear"].shape == ds["fine"].shape and ds.attrs["grid_kind"] == "latlon"
    assert (ds["split"].values[:12] == "train").all() and (ds["split"].values[-12:] == "test").all()
    train = ds["split"].values == "train"
    np.testing.assert_allclose(ds.attrs["stats"]["t2m"]["fine_mean"], ds["fine"][0][train].values.mean(), rtol=1e-6)
    with pytest.raises(DataError, match="no variable 'nope'"):
        dd.build_pair(path, path, [dd.PairVariable("nope", "nope")], PERIOD, 4)
    with pytest.raises(ConfigError, match="train_years"):
        dd.build_pair(path, path, pair[:1], {**PERIOD, "train_years": [1990]}, 4)


def test_statistics_do_not_see_the_test_years(tmp_path):
    a = str(tiny_store(tmp_path / "a.zarr"))
    ds = xr.open_zarr(a, consolidated=False).load()
    later = ds["time"].dt.year >= 2017
    ds["t2m"] = ds["t2m"].where(~later, ds["t2m"] + 50.0)
    b = tmp_path / "b.zarr"
    ds.to_zarr(b, zarr_format=3, consolidated=False)
    pair = [dd.PairVariable("t2m", "t2m")]
    sa, sb = (dd.build_pair(p, p, pair, PERIOD, 4) for p in (a, str(b)))
    assert sa.attrs["stats"] == sb.attrs["stats"]
    np.testing.assert_array_equal(sa["residual_mean"].values, sb["residual_mean"].values)


def test_unet_and_autoencoder_keep_odd_sizes():
    x = torch.zeros(2, 3, 13, 22)
    assert UNet(3, 2, 4)(x).shape == (2, 2, 13, 22)
    assert UNet(3, 2, 4, time_dim=8)(x, torch.tensor([0, 5])).shape == (2, 2, 13, 22)
    ae = Autoencoder(3, 4)
    assert ae(x).shape == x.shape and ae.features(x).shape == (2, 16, 13, 22)


def test_ddim_with_a_perfect_denoiser_returns_the_clean_field():
    """DDIM (eta 0) whose network always predicts the true x_0 ends at x_0 whatever the noise."""
    target = torch.linspace(-1, 1, 2 * 5 * 7).reshape(1, 2, 5, 7)

    def oracle(x, t):
        return target.expand(x.shape[0], -1, -1, -1)

    schedule = diffusion.Schedule(50)
    gen = torch.Generator().manual_seed(0)
    out = diffusion.ddim_sample(oracle, schedule, torch.zeros(3, 1, 5, 7), 2, 6, gen, clip=10.0)
    np.testing.assert_allclose(out.numpy(), target.expand(3, -1, -1, -1).numpy(), atol=16 * EPS32)
    # noising then the loss: zero for the oracle
    loss = diffusion.loss(oracle, schedule, target, torch.zeros(1, 0, 5, 7), torch.ones(5, 7), gen)
    assert float(loss) == 0.0


def test_wasserstein_of_a_shift_is_the_shift():
    rng = np.random.default_rng(1)
    values = rng.normal(0, 1, (1, 8, 4, 4))
    times = pd.date_range("2016-01-01", periods=8, freq="45D").values
    table = domain.domain_distances(values + 0.75, values, times, ["v"], np.array(["train"] * 8))
    row = table[(table["variable"] == "v") & (table["season"] == "all")].iloc[0]
    np.testing.assert_allclose(row["wasserstein"], 0.75, rtol=1e-12)
    assert set(table["season"]) >= {"all", "DJF"}


def test_frames_round_trip_the_truth(tmp_path):
    path = str(tiny_store(tmp_path / "fine.zarr"))
    ds = dd.build_pair(path, path, [dd.PairVariable("t2m", "t2m")], PERIOD, 4)
    f = fr.load_frames(ds)
    truth = ds["fine"].transpose("time", "variable", "y", "x").values
    for t in (0, 20):
        np.testing.assert_allclose(f.to_fine(f.residual[t], t), truth[t], rtol=4 * EPS32)
        np.testing.assert_allclose(f.normalise_fine(truth[t]), f.fine[t], atol=64 * EPS32)
