"""Downscaling library (terraflux.spatial): pairs, interpolation, U-Net, DDIM, domain distances, and the
stages end to end on a tiny coarsened pair."""

import terraflux  # noqa: F401  (native libraries in a safe order)
from terraflux.errors import ConfigError, DataError
from terraflux.spatial import diffusion, domain, stages
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
SMALL_MODELS = {"encoder": {"width": 2}, "diffusion": {"n_samples": 2}}  # what the memory check reads


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


def test_a_short_fine_record_of_its_own_sets_the_pair_split(tmp_path):
    period = {"train_years": [2016, 2017], "val_years": [2018], "test_years": []}
    years = dd.pair_years(period, {"train_years": [2017], "test_years": [2018]})
    assert years == {"start_year": None, "end_year": None, "train_years": [2017], "val_years": [], "test_years": [2018]}
    whole = {"start_year": 2016, "end_year": 2018, **PERIOD}
    assert dd.pair_years(whole, {"train_years": [], "test_years": [], "start_year": None}) == whole
    assert dd.pair_years(whole, {"start_year": 2017})["start_year"] == 2017
    store = str(tiny_store(tmp_path / "a.zarr"))
    ds = dd.build_pair(store, store, [dd.PairVariable("t2m", "t2m")], years, 4)
    split = pd.Series(ds["split"].values, index=ds["time"].dt.year.values)
    assert set(split[2017]) == {"train"} and set(split[2018]) == {"test"} and set(split[2016]) == {""}


def test_a_window_and_years_cut_the_pair(tmp_path):
    """The fine store cut by index window and years; another coarse store cut around the window keeps the
    bilinear field (local), and the cut stores equal the uncut ones' slices."""
    fine = str(tiny_store(tmp_path / "fine.zarr"))
    t2m = [dd.PairVariable("t2m", "t2m")]
    years = {**PERIOD, "start_year": 2016, "end_year": 2017}
    cut = dd.build_pair(fine, fine, t2m, years, 4, window=[4, 20, 0, 16])
    assert cut["fine"].shape == (1, 24, 16, 16) and cut["coarse"].shape == (1, 24, 4, 4)
    whole = dd.build_pair(fine, fine, t2m, PERIOD, 4)
    np.testing.assert_array_equal(cut["fine"].values, whole["fine"].isel(time=slice(0, 24), x=slice(4, 20)).values)
    coarse = str(tiny_store(tmp_path / "coarse.zarr", ny=8, nx=10, seed=1))  # 0.1 degree steps from 48 N, 8 E
    ds = xr.open_zarr(coarse, consolidated=False).load()
    ds = ds.assign_coords(latitude=48.0 - 0.25 * np.arange(8), longitude=7.5 + 0.25 * np.arange(10))
    wide = tmp_path / "wide.zarr"
    ds.to_zarr(wide, zarr_format=3, consolidated=False)
    window = [10, 14, 6, 9]  # fine longitudes 9.0-9.3, latitudes 47.4-47.2
    cut = dd.build_pair(str(wide), fine, t2m, PERIOD, 4, window=window)
    whole = dd.build_pair(str(wide), fine, t2m, PERIOD, 4)
    assert cut["coarse"].shape == (1, 36, 5, 6)  # 46.75-47.75 N, 8.5-9.75 E: the bounds +- two 0.25 degree cells
    np.testing.assert_allclose(
        cut["bilinear"].values, whole["bilinear"].isel(y=slice(6, 9), x=slice(10, 14)).values, rtol=4 * EPS32
    )
    with pytest.raises(ConfigError, match=r"window` \[0, 30, 0, 4\] is not a window .* 16 x 20"):
        dd.build_pair(fine, fine, t2m, PERIOD, 4, window=[0, 30, 0, 4])
    with pytest.raises(
        ConfigError, match=r"no time step in config `downscale.start_year`.*holds 2016..2018: choose years"
    ):
        dd.build_pair(fine, fine, t2m, {**PERIOD, "start_year": 2020}, 4)


def test_a_pair_larger_than_the_training_memory_is_refused_before_it_is_built(tmp_path):
    fine = xr.open_zarr(tiny_store(tmp_path / "fine.zarr"), consolidated=False)
    cfg = {"encoder": {"width": 8}, "diffusion": {"n_samples": 4}}
    # 36 steps x 16 x 20 points x (7 + 32 features + 4 members) float32 planes: 1.89 MiB
    assert dd.memory_bytes(36, 1, 16, 20, 32, 4) == 4 * 36 * 16 * 20 * 43
    stages.check_memory(fine, 1, cfg, mem_mb=2)
    with pytest.raises(ConfigError, match=r"36 time steps x 16 x 20 points .*compute.cpu_model.mem_mb` \(1 MB\)"):
        stages.check_memory(fine, 1, cfg, mem_mb=1)


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


def test_stages_end_to_end_on_a_tiny_pair(tmp_path):
    """dataset -> encoder -> U-Net and diffusion -> autoregressive predictions -> scores; seeded, repeatable."""
    from terraflux import outputs
    from terraflux.spatial.evaluation import evaluate

    store = str(tiny_store(tmp_path / "fine.zarr"))
    cfg = {
        "variables": [{"coarse": "t2m", "fine": "t2m"}, {"coarse": "tp", "fine": "tp", "factor": 1000.0}],
        "coarsen_factor": 4,
        "window": None,
        "encoder": {"pretrain": "autoencoder", "width": 2, "steps": 3, "batch_size": 4, "lr": 1e-3},
        "unet": {"width": 4, "steps": 3, "batch_size": 4, "lr": 1e-3},
        "diffusion": {
            "width": 4,
            "diffusion_steps": 10,
            "sample_steps": 3,
            "n_samples": 2,
            "steps": 3,
            "batch_size": 4,
            "lr": 1e-3,
        },
        "evaluate": {
            "n_bins": 4,
            "max_distance_km": 0,
            "model": "Exponential",
            "max_lag": 2,
            "lead_block_days": 56,
            "map_index": -1,
        },
    }
    prov = {"rule": "test"}
    data, enc = str(tmp_path / "dataset.zarr"), str(tmp_path / "encoder.pt")
    stages.dataset(store, store, cfg, PERIOD, 100, data, prov)
    stages.encoder(data, cfg["encoder"], 7, enc, prov)
    assert outputs.provenance_of(enc) == prov

    def same_weights_from_any_global_state(fit, path):
        """``fit(path)`` twice, the global torch generator moved in between: the stage seeds its own weights."""
        states = []
        for global_seed, suffix in ((1, ".a"), (2, ".b")):
            torch.manual_seed(global_seed)
            fit(path + suffix)
            states.append(outputs.load_checkpoint(path + suffix)["state"])
        assert all(torch.equal(states[0][k], states[1][k]) for k in states[0]), path

    same_weights_from_any_global_state(lambda out: stages.encoder(data, cfg["encoder"], 7, out, prov), enc)
    preds = {}
    for kind in ("unet", "diffusion"):
        ckpt = str(tmp_path / f"{kind}.pt")
        stages.fit_model(kind, data, enc, cfg[kind], 7, ckpt, prov)
        same_weights_from_any_global_state(
            lambda out, k=kind: stages.fit_model(k, data, enc, cfg[k], 7, out, prov), ckpt
        )
        runs = []
        for k in range(2):
            out = str(tmp_path / f"{kind}_{k}.zarr")
            stages.predict(kind, data, enc, ckpt, cfg[kind], 7, out, prov)
            runs.append(xr.open_zarr(out, consolidated=False)["fine"].values)
        n_members = 1 if kind == "unet" else 2
        assert runs[0].shape == (n_members, 2, 36, 16, 20)
        assert np.isfinite(runs[0]).all()
        np.testing.assert_array_equal(runs[0], runs[1])  # deterministic on CPU
        preds[kind] = str(tmp_path / f"{kind}_0.zarr")
    # CorrDiff: the diffusion model of the residual around the U-Net needs the U-Net's checkpoint
    around, unet_ckpt = {**cfg["diffusion"], "around_unet": True}, str(tmp_path / "unet.pt")
    with pytest.raises(ConfigError, match="around_unet"):
        stages.fit_model("diffusion", data, enc, around, 7, str(tmp_path / "around.pt"), prov)
    stages.fit_model("diffusion", data, enc, around, 7, str(tmp_path / "around.pt"), prov, unet_ckpt)
    with pytest.raises(ConfigError, match="around_unet"):  # a plain config on a model trained around the U-Net
        stages.predict("diffusion", data, enc, str(tmp_path / "around.pt"), cfg["diffusion"], 7, "x.zarr", prov)
    stages.predict(
        "diffusion", data, enc, str(tmp_path / "around.pt"), around, 7, str(tmp_path / "a.zarr"), prov, unet_ckpt
    )
    ensemble = xr.open_zarr(str(tmp_path / "a.zarr"), consolidated=False)["fine"].values
    assert ensemble.shape == (2, 2, 36, 16, 20) and np.isfinite(ensemble).all()
    result = evaluate(data, preds, cfg["evaluate"], "step")
    models = {"bilinear", "bicubic", "unet", "diffusion_mean", "diffusion_sample"}
    assert set(result["skill"]["model"]) == models and set(result["structure"]["model"]) == models
    assert set(result["crps"]) == {"t2m", "tp"} and all(v >= 0 for v in result["crps"].values())
    starts = np.unique(result["lead"]["lead_start"])  # blocks of 56 days: two 28-day steps
    np.testing.assert_array_equal(starts, 1 + 2 * np.arange(len(starts)))
    assert set(result["domain"]["variable"]) == {"t2m", "tp"}


def test_lead_blocks_are_whole_time_steps_of_the_pair():
    from terraflux.spatial.evaluation import lead_block_steps

    daily = pd.date_range("2018-01-01", "2019-12-31", freq="D").values
    weekly = pd.date_range("2018-01-01", "2019-12-31", freq="7D").values
    assert lead_block_steps(daily, 91) == 91 and lead_block_steps(weekly, 91) == 13
    assert lead_block_steps(weekly, 3) == 1  # at least one step


def test_semivariogram_fit_recovers_a_known_range_at_any_scale():
    """Gaussian random fields with an exponential covariance of length scale 30 km and variance 2e6 (units
    far from 1: the fit works in scaled units and must return the field's). 20 fields of 64 x 64 points
    5 km apart: the range estimate's sampling spread is a few percent, so 25% is a wide margin."""
    from terraflux.evaluate.semivariogram import GridGeometry, fit_model, semivariogram

    import gstools as gs

    n, dx, length_km, var = 64, 5000.0, 30.0, 2.0e6
    x = np.arange(n) * dx
    srf = gs.SRF(gs.Exponential(dim=2, var=var, len_scale=length_km * 1000), mode_no=1000)
    fields = np.stack([srf.structured((x, x), seed=k) for k in range(20)])
    fit = fit_model(semivariogram(fields, GridGeometry("projected", x, x), n_bins=12, max_distance_km=120))
    assert abs(fit["range_km"] / length_km - 1) < 0.25
    assert abs(fit["sill"] / var - 1) < 0.25


def test_semivariogram_weights_find_false_and_hard_negatives():
    """Semivariogram c0 = 0.1, c1 = 0.4, range 50 km. Pair (0, 1): 10 km apart and less dissimilar than the
    0.13 expected there (a false negative); pair (0, 2): 200 km apart, expected 0.49, found 0.1 (a hard
    negative); pair (0, 3): 200 km apart and as dissimilar as expected (an ordinary negative)."""
    from terraflux.spatial import contrastive

    d = np.array([[0, 10, 200, 200], [10, 0, 200, 200], [200, 200, 0, 10], [200, 200, 10, 0]], dtype=float)
    expected = 0.1 + 0.4 * (1 - np.exp(-d / 50.0))
    f = expected.copy()
    f[0, 1] = f[1, 0] = 0.05
    f[0, 2] = f[2, 0] = 0.1
    w = contrastive.semivariogram_weights(f, d, (0.1, 0.4, 50.0))
    np.testing.assert_allclose(w[0, 1], 0.05 / expected[0, 1])
    np.testing.assert_allclose(w[0, 2], 1 + (expected[0, 2] - 0.1) / expected[0, 2])
    assert w[0, 3] == 1 and w[2, 3] == 1 and np.all(np.diag(w) == 1)
    z = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.9, 0.3], [0.5, 0.8], [-1.0, 0.1]]), dim=1)
    # the weighted loss: all-ones weights give plain InfoNCE, down-weighted negatives lower it
    plain = contrastive.info_nce(z, z, 0.2)
    np.testing.assert_allclose(contrastive.info_nce(z, z, 0.2, torch.ones(4, 4)), plain, rtol=1e-6)
    assert contrastive.info_nce(z, z, 0.2, torch.full((4, 4), 0.5)) < plain
    assert contrastive.negative_weights(z, d).shape == (4, 4)


def test_exponential_fit_recovers_its_parameters():
    from terraflux.spatial.contrastive import fit_exponential

    d = np.linspace(0, 300, 200)
    f = 0.05 + 0.4 * (1 - np.exp(-d / 50.0))
    c0, c1, r = fit_exponential(d, f, np.array([25.0, 50.0, 100.0]))
    assert r == 50.0
    np.testing.assert_allclose([c0, c1], [0.05, 0.4], rtol=1e-9)


@pytest.mark.parametrize("pretrain", ["contrastive", "contrastive_semivariogram"])
def test_contrastive_encoders_train_and_give_features(tmp_path, pretrain):
    from terraflux.spatial import stages
    from terraflux.spatial.train import encoder_features

    store = str(tiny_store(tmp_path / "fine.zarr"))
    data, enc = str(tmp_path / "dataset.zarr"), str(tmp_path / "encoder.pt")
    stages.dataset(
        store,
        store,
        {"variables": [{"coarse": "t2m", "fine": "t2m"}], "coarsen_factor": 4, "window": None, **SMALL_MODELS},
        PERIOD,
        100,
        data,
        {},
    )
    cfg = {
        "pretrain": pretrain,
        "width": 2,
        "steps": 4,
        "batch_size": 6,
        "lr": 1e-2,
        "patch_size": 8,
        "tau": 0.2,
        "noise": 0.1,
    }
    stages.encoder(data, cfg, 3, enc, {})
    _, frames = stages.open_frames(data)
    before = encoder_features(stages.load_encoder(enc), frames)
    assert before.shape == (36, 8, 16, 20) and np.isfinite(before).all()
    stages.encoder(data, cfg, 3, str(tmp_path / "again.pt"), {})
    np.testing.assert_array_equal(before, encoder_features(stages.load_encoder(str(tmp_path / "again.pt")), frames))


def test_diffusion_around_the_unet_with_a_zero_deviation_reconstructs_the_unet(tmp_path):
    """CorrDiff: the diffusion model adds its deviation to the U-Net's mean at every step; a denoiser that
    always predicts a zero deviation gives back the U-Net's own autoregressive reconstruction exactly."""
    from terraflux.spatial import predict, train

    path = str(tiny_store(tmp_path / "fine.zarr"))
    frames = fr.load_frames(dd.build_pair(path, path, [dd.PairVariable("t2m", "t2m")], PERIOD, 4))
    features = np.zeros((frames.coarse.shape[0], 2, *frames.mask.shape), dtype=np.float32)
    torch.manual_seed(0)
    unet = UNet(train.n_condition(frames, features), 1, 4).eval()
    means = train.regression_means(unet, frames, features)
    target, scale = train.around_regression(frames, means)
    on_train = target[frames.split == "train"][:, :, frames.mask]
    # unit RMS over the training times (float32 sums of squares: a few ulps per pairwise-summation level)
    np.testing.assert_allclose(np.sqrt(np.mean(on_train**2, axis=(0, 2))), 1.0, rtol=64 * EPS32)

    class ZeroDeviation(torch.nn.Module):
        def forward(self, x, t):
            return torch.zeros(x.shape[0], 1, *x.shape[2:])

    ensemble = predict.reconstruct_diffusion(
        ZeroDeviation(), frames, features, 10, 3, 2, seed=0, around=(unet, scale, 5.0)
    )
    alone = predict.reconstruct(frames, features, unet, 2)  # the same batch of two chains: the same arithmetic
    assert ensemble.shape == (2, frames.coarse.shape[0], 1, *frames.mask.shape)
    np.testing.assert_array_equal(ensemble, alone)
