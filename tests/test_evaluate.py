"""Evaluation library: reading stage outputs, FFT semivariogram vs all pairs, temporal structure, kriging, figures
(the metrics themselves: tests/test_metrics.py)."""

import terraflux  # noqa: F401  (native libraries in a safe order)
from terraflux import metrics
from terraflux.evaluate import semivariogram as sv
from terraflux.evaluate import temporal
from terraflux.evaluate.kriging import fit_residual_variogram, krige_labels

import numpy as np
import pandas as pd
import pytest
from test_metrics import site_pairs

# ---------------------------------------------------------------------------------------------- inputs


def test_cell_truth_pairs_block_mean_test_cells_and_years(tmp_path):
    from terraflux.errors import DataError
    from terraflux.evaluate.inputs import cell_truth_pairs

    import xarray as xr

    times = pd.date_range("2018-01-01", periods=24, freq="MS")
    lat, lon = np.array([47.15, 47.05, 46.95, 46.85]), np.array([8.05, 8.15, 8.25, 8.35])  # fine grid, 2 x 2 blocks
    fine = np.arange(24)[:, None, None] + 10 * np.arange(4)[None, :, None] + np.arange(4)[None, None, :]
    xr.Dataset(
        {"GPP": (("time", "latitude", "longitude"), fine.astype("float32"))},
        coords={"time": times, "latitude": lat, "longitude": lon},
    ).to_zarr(tmp_path / "truth.zarr")
    clat, clon = np.array([47.1, 46.9]), np.array([8.1, 8.3])
    block = fine.reshape(24, 2, 2, 2, 2).mean(axis=(2, 4))  # the true block means
    split = np.array([["test", "train"], ["", "test"]])
    pred = xr.Dataset(
        {
            "GPP": (("time", "latitude", "longitude"), (block + 1).astype("float32")),
            "split": (("latitude", "longitude"), split),
        },
        coords={"time": times, "latitude": clat, "longitude": clon},
    )
    pred.to_zarr(tmp_path / "pred.zarr", consolidated=False)
    pairs = cell_truth_pairs({"m": tmp_path / "pred.zarr"}, tmp_path / "truth.zarr", years=[2019], variables=["GPP"])
    assert len(pairs) == 2 * 12 and set(pairs["site_id"]) == {"47.1000,8.1000", "46.9000,8.3000"}
    assert (pairs["time"].dt.year == 2019).all()
    np.testing.assert_allclose(pairs["prediction"] - pairs["observation"], 1.0, rtol=1e-6)
    first = pairs[(pairs["site_id"] == "47.1000,8.1000") & (pairs["time"] == "2019-01-01")]
    assert float(first["observation"].iloc[0]) == pytest.approx(block[12, 0, 0])
    pred.drop_vars("split").to_zarr(tmp_path / "nosplit.zarr", consolidated=False)
    with pytest.raises(DataError, match="no 'split' variable"):
        cell_truth_pairs({"m": tmp_path / "nosplit.zarr"}, tmp_path / "truth.zarr")


# -------------------------------------------------------------------------------------- semivariogram


def _smooth_field(rng, ny, nx, scale=4.0):
    ky = np.fft.fftfreq(ny)[:, None]
    kx = np.fft.rfftfreq(nx)[None, :]
    return np.fft.irfft2(
        np.fft.rfft2(rng.standard_normal((ny, nx))) * np.exp(-(ky**2 + kx**2) * scale**2 * 10), s=(ny, nx)
    )


def brute_force_semivariogram(field2d, geometry, edges) -> dict:
    """The test oracle: every ordered pair of valid cells with its exact distance (O(n^2)), binned like the
    library (0 < distance <= last edge; a distance on an edge goes to the lower class)."""
    z = np.asarray(field2d, dtype=np.float64)
    iy, ix = np.nonzero(np.isfinite(z))
    vals = z[iy, ix]
    if geometry.kind == "latlon":
        lat, lon = geometry.y[iy], geometry.x[ix]
        dist = sv.haversine_km(lat[:, None], lat[None, :], lon[None, :] - lon[:, None])
    else:
        yy, xx = geometry.y[iy] / 1000.0, geometry.x[ix] / 1000.0
        dist = np.hypot(yy[:, None] - yy[None, :], xx[:, None] - xx[None, :])
    sq = (vals[:, None] - vals[None, :]) ** 2
    keep = (dist > 0) & (dist <= edges[-1])
    k = len(edges) - 1
    idx = np.clip(np.searchsorted(edges, dist[keep], side="left") - 1, 0, k - 1)
    count = np.bincount(idx, minlength=k).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        gamma = np.bincount(idx, weights=sq[keep], minlength=k) / (2 * count)
        distance = np.bincount(idx, weights=dist[keep], minlength=k) / count
    return {"count": count, "gamma": gamma, "distance": distance}


@pytest.mark.parametrize(
    "kind, y, x",
    [
        ("latlon", np.arange(60.0, 40.0, -0.5), np.arange(0.0, 30.0, 0.5)),  # regional, north-first
        ("latlon", np.arange(-87.5, 90.0, 5.0), np.arange(0.0, 360.0, 5.0)),  # global: periodic longitudes
        ("projected", np.arange(30) * 5500.0, np.arange(40) * 5500.0),  # CERRA-like, metres
    ],
)
def test_fft_semivariogram_equals_brute_force(kind, y, x):
    rng = np.random.default_rng(2)
    grid = sv.GridGeometry(kind, y, x)
    z = _smooth_field(rng, y.size, x.size) + 3.0
    z[rng.random(z.shape) < 0.6] = np.nan
    edges = sv.default_edges(grid, None, 12)
    fast = sv.semivariogram(z, grid, edges=edges, tolerance=1e-9)  # one-row bands: exact distances
    slow = brute_force_semivariogram(z, grid, edges)
    np.testing.assert_array_equal(fast.count, slow["count"])
    np.testing.assert_allclose(fast.gamma, slow["gamma"], rtol=1e-9)
    np.testing.assert_allclose(fast.distance, slow["distance"], rtol=1e-9)
    assert grid.periodic == (x.size * 5.0 == 360.0)


def test_latitude_bands_bound_the_distance_error():
    rng = np.random.default_rng(3)
    grid = sv.GridGeometry("latlon", np.arange(70.0, 40.0, -0.5), np.arange(0.0, 20.0, 0.5))
    z = _smooth_field(rng, grid.y.size, grid.x.size)
    edges = sv.default_edges(grid, 600.0, 10)
    banded = sv.semivariogram(z, grid, edges=edges, tolerance=0.02)
    exact = brute_force_semivariogram(z, grid, edges)
    assert 0 < banded.max_band_error <= 0.02
    assert np.abs(banded.count / exact["count"] - 1).max() < 0.05
    np.testing.assert_allclose(banded.gamma, exact["gamma"], rtol=0.03)


def test_compare_structure_is_mask_consistent_and_scores_scaling():
    rng = np.random.default_rng(4)
    grid = sv.GridGeometry("latlon", np.arange(50.0, 40.0, -0.25), np.arange(0.0, 12.0, 0.25))
    ref = _smooth_field(rng, grid.y.size, grid.x.size, scale=6.0)
    same = sv.compare_structure(ref.copy(), ref, grid, n_bins=8)
    assert same["D"] == pytest.approx(0.0, abs=1e-12)
    gappy = ref.copy()
    gappy[:, :10] = np.nan  # a gap in the prediction only: the reference is cut to the same cells
    assert sv.compare_structure(gappy, ref, grid, n_bins=8)["D"] == pytest.approx(0.0, abs=1e-12)
    doubled = sv.compare_structure(np.sqrt(2.0) * ref, ref, grid, n_bins=8)
    assert doubled["D"] == pytest.approx(np.log(2.0), rel=1e-9)
    assert doubled["ratios"]["sill"] == pytest.approx(2.0, rel=0.05)
    assert doubled["ratios"]["range"] == pytest.approx(1.0, rel=0.05)


def test_fitted_range_follows_the_field():
    import gstools as gs

    x = np.arange(80) * 10_000.0
    grid = sv.GridGeometry("projected", x, x)
    fields = [
        gs.SRF(gs.Exponential(dim=2, var=2.0, len_scale=ls), seed=5).structured((x / 1000.0, x / 1000.0))
        for ls in (40.0, 120.0)
    ]
    fits = [sv.fit_model(sv.semivariogram(f.T, grid, n_bins=15, max_distance_km=300.0)) for f in fields]
    assert fits[0]["range_km"] < fits[1]["range_km"]
    assert fits[0]["range_km"] == pytest.approx(40.0, rel=0.5)


def test_bad_grid_and_shapes_are_rejected():
    with pytest.raises(ValueError, match="regularly spaced"):
        sv.GridGeometry("latlon", np.array([1.0, 2.0, 4.0]), np.arange(3.0))
    grid = sv.GridGeometry("latlon", np.arange(3.0), np.arange(4.0))
    with pytest.raises(ValueError, match="does not match the grid"):
        sv.semivariogram(np.zeros((4, 3)), grid, n_bins=3)


# ------------------------------------------------------------------------------------------- temporal


def test_acf_of_ar1_and_lag_curves():
    rng = np.random.default_rng(6)
    n, phi = 4000, 0.7
    x = np.zeros(n)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + rng.normal()
    a = temporal.acf(x, 3)
    np.testing.assert_allclose(a, phi ** np.arange(4), atol=0.05)
    assert temporal.decorrelation_lag(a) == pytest.approx(-1 / np.log(phi), abs=0.4)
    stack = x[:200, None, None] * np.ones((200, 3, 4))
    curves = temporal.lag_curves(stack, 3)
    assert curves["r2"][0] == pytest.approx(phi**2, abs=0.15)
    assert np.all(np.diff(curves["rmse"]) > 0)
    same = temporal.compare_temporal(stack, stack, 3)
    assert same["acf_rmse"] == pytest.approx(0.0)


# ------------------------------------------------------------------------------------------- kriging


def _flux_world(seed=7, n_sites=25, n_months=12):
    import gstools as gs

    rng = np.random.default_rng(seed)
    sites = pd.DataFrame(
        {
            "site_id": [f"S{i:02d}" for i in range(n_sites)],
            "latitude": rng.uniform(46, 48, n_sites),
            "longitude": rng.uniform(8, 11, n_sites),
        }
    )
    times = pd.date_range("2019-01-01", periods=n_months, freq="MS")
    srf = gs.SRF(gs.Exponential(latlon=True, geo_scale=gs.KM_SCALE, var=1.0, len_scale=120.0), seed=seed)
    rows = []
    for k, t in enumerate(times):
        resid = srf((sites["latitude"], sites["longitude"]), seed=seed + k)
        prior = 4 + 3 * np.sin(2 * np.pi * k / 12) + 0.5 * sites["latitude"].to_numpy()
        rows.append(
            pd.DataFrame({"site_id": sites["site_id"], "time": t, "prior": prior, "truth": prior + 1.0 + resid})
        )
    return sites, pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize("method", ["ordinary", "ext_drift"])
def test_kriging_labels_beat_the_prior_on_hidden_points(method):
    sites, world = _flux_world()
    hidden = world.sample(frac=0.2, random_state=1)
    observed = world.drop(hidden.index)

    def krige():
        conditioning = observed[["site_id", "time"]].assign(value=observed["truth"])
        prior = world[["site_id", "time"]].assign(value=world["prior"])
        return krige_labels(sites, conditioning, prior, hidden[["site_id", "time"]], method=method, n_samples=8, seed=3)

    result = krige()
    labels = result.labels
    assert list(labels["site_id"]) == list(hidden["site_id"]) and list(labels["time"]) == list(hidden["time"])
    mae_krige = np.mean(np.abs(labels["mean"] - hidden["truth"].to_numpy()))
    mae_prior = np.mean(np.abs(hidden["prior"] - hidden["truth"]).to_numpy())
    assert mae_krige < 0.7 * mae_prior
    assert result.samples.shape == (8, len(hidden))
    crps = metrics.crps_ensemble(result.samples, hidden["truth"].to_numpy()).mean()
    assert crps < mae_prior
    np.testing.assert_array_equal(krige().samples, result.samples)


def test_residual_variogram_fit_recovers_the_range():
    sites, world = _flux_world(n_sites=40, n_months=24)
    wide = (world["truth"] - world["prior"]).to_numpy().reshape(24, 40)
    _, info = fit_residual_variogram(sites["latitude"], sites["longitude"], wide)
    assert 40 < info["range_km"] < 400
    assert info["r2"] > 0.5


# ------------------------------------------------------------------------------------------- figures


def test_figures_show_the_data_they_are_given(tmp_path):
    from terraflux.evaluate import figures

    import matplotlib.pyplot as plt
    from matplotlib.image import imread

    rng = np.random.default_rng(8)
    lat, lon = np.arange(48.0, 46.0, -0.25), np.arange(8.0, 11.0, 0.25)
    land = rng.random((lat.size, lon.size)) > 0.2
    values = rng.normal(size=(lat.size, lon.size))
    fig = figures.map_grid(
        [
            {"values": values, "title": "GPP mean 2019", "units": "gC m-2 d-1"},
            {"values": values - 0.5, "title": "difference", "units": "gC m-2 d-1", "diverging": True},
        ],
        lat,
        lon,
        land=land,
        suptitle="test",
    )
    maps = [ax for ax in fig.axes if ax.get_title()]  # colour bars and unused grid cells have no title
    assert [ax.get_title() for ax in maps] == ["GPP mean 2019", "difference"]
    for ax, shown in zip(maps, (values, values - 0.5), strict=True):
        data = np.ma.filled(ax.get_images()[-1].get_array().astype(float), np.nan)  # the data layer, above the sea
        np.testing.assert_array_equal(np.isnan(data), ~land)  # sea is not drawn as data
        np.testing.assert_allclose(data[land], shown[land])  # north up, as given
    low, high = maps[1].get_images()[-1].get_clim()
    assert low == -high < 0  # a difference: colours centred on zero
    low, high = maps[0].get_images()[-1].get_clim()
    assert values[land].min() <= low < high <= values[land].max()
    figures.save(fig, tmp_path / "maps.png")
    assert not plt.fignum_exists(fig.number)  # closed once written
    pixels = imread(tmp_path / "maps.png")
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 50  # drawn, not blank

    table = metrics.skill_table(site_pairs(rng))
    overall = table[table["group"] == "all"].set_index(["variable", "model"])
    fig = figures.skill_bars(
        table, metrics=[("rmse", "RMSE ({units})"), ("nse", "NSE (1)")], units="gC m-2 d-1", title="t"
    )
    assert [ax.get_title() for ax in fig.axes] == ["GPP: RMSE", "GPP: NSE"]
    assert fig.axes[0].get_ylabel() == "RMSE (gC m-2 d-1)"
    for ax, column in zip(fig.axes, ("rmse", "nse"), strict=True):  # one bar per model, as high as the table says
        models = [label.get_text() for label in ax.get_xticklabels()]
        assert sorted(models) == ["climatology", "good"]
        np.testing.assert_allclose([bar.get_height() for bar in ax.patches], overall.loc["GPP"].loc[models, column])
    plt.close(fig)
    fig = figures.group_heatmap(table, group="igbp", metric="nse", label="NSE (1)", title="t")
    expected = table[(table["group"] == "igbp") & (table["variable"] == "GPP")].pivot_table(
        index="group_value", columns="model", values="nse"
    )
    image = fig.axes[0].get_images()[0]
    np.testing.assert_allclose(image.get_array(), expected.to_numpy())  # rows: IGBP classes, columns: models
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(expected.index)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list(expected.columns)
    assert image.get_clim() == (-1, 1)  # NSE: a fixed scale
    plt.close(fig)


# ---------------------------------------------------------------------------------------------- IDE maps


def _ide_world():
    """A synthetic-world-like IDE dataset (dates, 1-D latitude(y) / longitude(x)), predictions and truth.

    Week 2 has the most extreme pixels, but most of them invalid (sea): week 3 has the most valid ones."""
    import xarray as xr

    times = np.array(["2019-01-07", "2019-01-14", "2019-01-21", "2019-01-28"], dtype="datetime64[ns]")
    h, w = 4, 5
    extreme = np.zeros((4, h, w), bool)
    extreme[2, :, :3] = True  # 12 pixels, 8 on sea
    extreme[3, 1:3, 2:5] = True  # 6 pixels, all on land
    valid = np.ones((4, h, w), bool)
    valid[:, :, :2] = False
    coords = {
        "time": times,
        "latitude": ("y", np.linspace(48.0, 47.4, h)),
        "longitude": ("x", np.linspace(8.0, 9.2, w)),
        "week_of_year": ("time", np.array([2, 3, 4, 5])),
    }
    dataset = xr.Dataset(
        {"extreme": (("time", "y", "x"), extreme), "valid": (("time", "y", "x"), valid)}, coords=coords
    )
    driver = np.zeros((2, 4, h, w), bool)
    driver[0, 3, 0, :] = True
    pred = xr.Dataset(
        {
            "driver": (("variable", "time", "y", "x"), driver),
            "covered": (("time", "y", "x"), np.ones((4, h, w), bool)),
            "extreme_probability": (("target_time", "y", "x"), np.full((2, h, w), 0.3, np.float32)),
        },
        coords={"variable": ["t2m", "tp"], "time": times, "target_time": times[2:]},
    )
    truth = xr.Dataset(
        {
            "extreme": (("time", "latitude", "longitude"), extreme),
            "driver": (("variable", "time", "latitude", "longitude"), driver[:1] | driver[:1, :, ::-1]),
        },
        coords={
            "variable": ["t2m"],
            "time": times,
            "latitude": np.linspace(48.0, 47.4, h),
            "longitude": np.linspace(8.0, 9.2, w),
        },
    )
    return pred, dataset, truth


def test_ide_maps_week_with_most_valid_extremes_panels_and_mask():
    from terraflux.evaluate import ide_maps

    pred, dataset, truth = _ide_world()
    week = ide_maps.choose_week(pred, dataset, truth)
    assert week == np.datetime64("2019-01-28")  # most *valid* extremes, not most extremes
    assert ide_maps.choose_week(pred, dataset, truth, week=np.datetime64("2019-01-22")) == np.datetime64("2019-01-21")
    assert ide_maps.week_label(dataset, week) == "week of 2019-01-28"
    panels, valid = ide_maps.panels(pred, dataset, truth, week)
    assert valid.sum() == 12 and not valid[:, :2].any()
    titles = [p["title"] for p in panels]
    assert titles == [
        "P(extreme), week of 2019-01-28",
        "true extremes, week of 2019-01-28",
        "t2m: predicted drivers, week of 2019-01-28",
        "t2m: true drivers, week of 2019-01-28",
        "tp: predicted drivers, week of 2019-01-28",
        "tp: no true drivers in the truth",
    ]
    assert [p["units"] for p in panels] == ["probability (1)", "extreme (0/1)"] + ["driver (0/1)"] * 4
    np.testing.assert_array_equal(panels[2]["values"][0], 1.0)
    np.testing.assert_array_equal(panels[3]["values"][[0, 3]], 1.0)  # the truth's own mask, not the prediction's
    assert np.isnan(panels[5]["values"]).all()
    lat, lon, labels = ide_maps.grid(dataset)
    assert labels == ("longitude (°E)", "latitude (°N)") and lat[0] == 48.0
    fig, chosen = ide_maps.figure(pred, dataset, None, title="IDE cnn3d on era5_land")
    assert chosen == week  # without a truth: the dataset's target extremes
    assert fig.axes[1].get_title() == "observed extremes (target), week of 2019-01-28"


@pytest.mark.parametrize("variables", [2, 6])
def test_ide_maps_title_clears_the_panels_and_colour_bars(variables):
    """The figure title lies above every panel, panel title and colour bar (with the benchmark's 6 variables,
    7 rows of maps, it overlapped the first row)."""
    from terraflux.evaluate import ide_maps

    import matplotlib.text
    import xarray as xr

    pred, dataset, truth = _ide_world()
    names = [f"v{i}" for i in range(variables)]
    driver = xr.concat([pred["driver"].isel(variable=0)] * variables, dim="variable").assign_coords(variable=names)
    pred = pred.drop_vars("driver").drop_vars("variable").assign(driver=driver)
    truth_driver = xr.concat([truth["driver"].isel(variable=0)] * variables, dim="variable")
    truth = truth.drop_vars("driver").drop_vars("variable").assign(driver=truth_driver.assign_coords(variable=names))
    title = "IDE cnn3d lfq (seed 0) on benchmark: extremes and drivers"
    fig, _ = ide_maps.figure(pred, dataset, truth, title=title)
    renderer = fig.canvas.get_renderer()
    (text,) = [t for t in fig.findobj(matplotlib.text.Text) if t.get_text() and t.get_text() == fig.get_suptitle()]
    bottom = text.get_window_extent(renderer).y0
    tops = [ax.get_tightbbox(renderer).y1 for ax in fig.axes if ax.get_visible()]
    assert len(tops) == 4 * (1 + variables)  # the panels and their colour bars
    assert max(tops) < bottom


def test_ide_map_week_from_config_dates_indices_and_clear_errors():
    from terraflux.errors import ConfigError
    from terraflux.evaluate import ide_maps

    import xarray as xr

    dated = xr.Dataset(coords={"target_time": pd.date_range("2019-01-07", periods=3, freq="7D")})
    numbered = xr.Dataset(coords={"target_time": np.arange(900, 903)})
    assert ide_maps.parse_week("", dated) is None
    assert ide_maps.parse_week("2019-01-15", dated) == np.datetime64("2019-01-15")
    assert ide_maps.parse_week("901", numbered) == 901
    with pytest.raises(ConfigError, match="evaluate.ide_map_week.*YYYY-MM-DD"):
        ide_maps.parse_week("12", dated)
    with pytest.raises(ConfigError, match="evaluate.ide_map_week.*week index"):
        ide_maps.parse_week("2019-01-15", numbered)


def test_ide_maps_no_test_weeks_is_a_clear_error():
    from terraflux.errors import DataError
    from terraflux.evaluate import ide_maps

    pred, dataset, truth = _ide_world()
    with pytest.raises(DataError, match="no test target weeks"):
        ide_maps.choose_week(pred.isel(target_time=slice(0, 0)), dataset, truth)
