"""prepare_cerra (GRIB2 Lambert conformal via cfgrib) and prepare_vhp on small files written with the real libraries."""

import terraflux  # noqa: F401
from terraflux.errors import ConfigError, DataError
from terraflux.prepare.cerra import prepare_cerra
from terraflux.prepare.regrid import Target
from terraflux.sources import vhp
from terraflux.sources.cerra.read import open_cerra, read_values

import eccodes
import numpy as np
import pandas as pd
import pyproj
import pytest
import xarray as xr

NX, NY = 6, 5
T2M = ("2t", 167, "heightAboveGround", 2)
TP = ("tp", 228228, "surface", 0)


def write_cerra(path, times, variables=(T2M,), forecast=False, gradient=0.0, missing_first=False, nx=NX):
    """A CERRA-like GRIB2 file: Lambert conformal (LaD = LoV-ish CERRA keys), value = 280 + hour index
    (+ ``gradient`` x column index); ``nx`` points per row."""
    with open(path, "wb") as out:
        for i, t in enumerate(times):
            for _short, param, level_type, level in variables:
                h = eccodes.codes_grib_new_from_samples("GRIB2")
                for key, value in (
                    ("gridType", "lambert"),
                    ("shapeOfTheEarth", 6),
                    ("Nx", nx),
                    ("Ny", NY),
                    ("latitudeOfFirstGridPointInDegrees", 45.0),
                    ("longitudeOfFirstGridPointInDegrees", 5.0),
                    ("LaDInDegrees", 50.0),
                    ("LoVInDegrees", 8.0),
                    ("Latin1InDegrees", 50.0),
                    ("Latin2InDegrees", 50.0),
                    ("DxInMetres", 5500.0),
                    ("DyInMetres", 5500.0),
                    ("iScansNegatively", 0),
                    ("jScansPositively", 1),
                    ("latitudeOfSouthernPoleInDegrees", -90.0),
                    ("longitudeOfSouthernPoleInDegrees", 0.0),
                ):
                    eccodes.codes_set(h, key, value)
                if forecast:
                    eccodes.codes_set(h, "productDefinitionTemplateNumber", 8)
                eccodes.codes_set(h, "paramId", param)
                eccodes.codes_set(h, "typeOfLevel", level_type)
                eccodes.codes_set(h, "level", level)
                if forecast:
                    eccodes.codes_set(h, "stepType", "accum")
                    eccodes.codes_set(h, "startStep", 0)
                    eccodes.codes_set(h, "endStep", 3)
                eccodes.codes_set(h, "dataDate", int(t.strftime("%Y%m%d")))
                eccodes.codes_set(h, "dataTime", t.hour * 100)
                eccodes.codes_set(h, "bitsPerValue", 16)
                field = (1.0 if forecast else 280.0) + (i % 2) + gradient * np.tile(np.arange(nx), NY)
                if missing_first:  # the first point missing (bitmap)
                    eccodes.codes_set(h, "bitmapPresent", 1)
                    field[0] = eccodes.codes_get(h, "missingValue")
                eccodes.codes_set_values(h, field)
                eccodes.codes_write(h, out)
                eccodes.codes_release(h)
    return path


def month_steps(year, month):
    start = pd.Timestamp(year, month, 1)
    return pd.date_range(
        start, start + pd.offsets.MonthEnd(0) + pd.Timedelta(hours=12), freq="12h"
    )  # 2 steps a day: small


def test_cerra_reader_lambert_grid_in_metres(tmp_path):
    path = write_cerra(tmp_path / "analysis-01.grib", month_steps(2016, 1)[:4])
    ds = open_cerra(path)
    assert ds["t2m"].dims == ("time", "y", "x") and ds["t2m"].dtype == np.float32
    assert ds["latitude"].dims == ("y", "x")
    np.testing.assert_allclose(np.diff(ds["x"].values), 5500.0)
    np.testing.assert_allclose(np.diff(ds["y"].values), 5500.0)
    assert ds["latitude"].values[0, 0] == pytest.approx(45.0, abs=1e-4)
    np.testing.assert_array_equal(ds["t2m"].values[:, 0, 0], [280, 281, 280, 281])


def test_cerra_reader_decodes_only_the_window_and_masks_missing_points(tmp_path):
    path = write_cerra(tmp_path / "analysis-01.grib", month_steps(2016, 1)[:6], gradient=0.5, missing_first=True)
    ds = open_cerra(path)
    full = read_values(ds, "t2m")
    assert np.isnan(full[:, 0, 0]).all() and np.isfinite(full[:, 1:, :]).all()
    np.testing.assert_array_equal(full[2, 3], 280.0 + 0.5 * np.arange(NX))
    np.testing.assert_array_equal(read_values(ds.isel(x=slice(2, 5), y=slice(1, 3)), "t2m"), full[:, 1:3, 2:5])
    np.testing.assert_array_equal(ds["t2m"].isel(time=[1, 4], x=3).values, full[[1, 4], :, 3])
    assert ds["t2m"].attrs["units"] == "K" and ds["t2m"].attrs["GRIB_gridType"] == "lambert"


def test_cerra_reader_duplicated_times_and_levels_name_the_file(tmp_path):
    steps = month_steps(2016, 1)[:3]
    path = write_cerra(tmp_path / "analysis-01.grib", steps.append(steps[1:2]))
    with pytest.raises(DataError, match=r"analysis-01\.grib: t2m appears twice at 2016-01-01T12:00"):
        open_cerra(path)
    path = write_cerra(
        tmp_path / "analysis-02.grib",
        month_steps(2016, 2)[:2],
        (("vsw", 260199, "soilLayer", 1), ("vsw", 260199, "soilLayer", 2)),
    )
    with pytest.raises(DataError, match=r"analysis-02\.grib: vsw on 2 levels"):
        open_cerra(path)


def test_cerra_weekly_store_with_crop_and_forecast_rates(tmp_path):
    files = {}
    for month in range(1, 13):
        analysis = write_cerra(tmp_path / f"analysis-{month:02d}.grib", month_steps(2016, month))
        forecast = write_cerra(tmp_path / f"forecast-{month:02d}.grib", month_steps(2016, month), (TP,), forecast=True)
        files[(2016, month)] = [str(analysis), str(forecast)]
    out = tmp_path / "cerra_weekly.zarr"
    prepare_cerra(
        files,
        out_path=out,
        variables=[],
        period={"start_year": 2016, "end_year": 2016, "train_years": [2016]},
        crop=[1, 5, 0, 4],
        reproject=None,
        workers=2,
    )
    ds = xr.open_zarr(out)
    assert ds["t2m_mean"].dims == ("time", "y", "x") and ds.sizes == {"time": 52, "y": 4, "x": 4, "week_of_year": 52}
    values = 280.0 + np.arange(2)  # every day the same 2 steps
    assert ds["t2m_mean"].values[0, 0, 0] == pytest.approx(values.mean())
    assert ds["t2m_std"].values[10, 2, 3] == pytest.approx(values.std(), rel=1e-5)
    assert ds["tp_mean"].values[5, 0, 0] == pytest.approx((1.0 + np.arange(2)).mean() * 8)  # 3-hour totals -> per day
    assert "d-1" in ds["tp_mean"].attrs["units"]
    assert ds.rio.crs.to_dict()["proj"] == "lcc"
    assert ds["latitude"].dims == ("y", "x")


def _year_files(root, year=2016, skip_day=None):
    files = {}
    for month in range(1, 13):
        steps = month_steps(year, month)
        if skip_day is not None and month == skip_day.month:
            steps = steps[steps.normalize() != skip_day]
        analysis = write_cerra(root / f"analysis-{month:02d}.grib", steps, gradient=0.5)
        forecast = write_cerra(root / f"forecast-{month:02d}.grib", steps, (TP,), forecast=True)
        files[(year, month)] = [str(analysis), str(forecast)]
    return files


PERIOD_2016 = {"start_year": 2016, "end_year": 2016, "train_years": [2016]}


def test_cerra_daily_store_holds_each_days_mean_and_total(tmp_path):
    files = _year_files(tmp_path)
    weekly_path, daily_path = tmp_path / "cerra_weekly.zarr", tmp_path / "cerra_daily.zarr"
    prepare_cerra(
        files, out_path=weekly_path, variables=[], period=PERIOD_2016, crop=None, reproject=None, daily_path=daily_path
    )
    daily, weekly = xr.open_zarr(daily_path), xr.open_zarr(weekly_path)
    assert daily["t2m"].dims == ("time", "y", "x") and daily.sizes["time"] == 366
    assert str(daily["time"].values[0])[:10] == "2016-01-01" and str(daily["time"].values[-1])[:10] == "2016-12-31"
    columns = 0.5 * np.arange(NX)  # the field's gradient along x
    np.testing.assert_allclose(daily["t2m"].values, np.broadcast_to(280.5 + columns, (366, NY, NX)), rtol=1e-5)
    # 3-hour amounts (1 and 2 kg m-2 at the day's two steps in these files) -> the day's total, x 24 / 3
    np.testing.assert_allclose(daily["tp"].values, 1.5 * 8, rtol=1e-5)
    assert "d-1" in daily["tp"].attrs["units"] and daily.rio.crs.to_dict()["proj"] == "lcc"
    assert bool(daily["land_mask"].all()) and daily.attrs["train_years"] == [2016] and "provenance" in daily.attrs
    # the weekly means are the means of the week's days
    week = weekly["t2m_mean"].isel(time=3).values
    np.testing.assert_allclose(week, daily["t2m"].isel(time=slice(21, 28)).mean("time").values, rtol=1e-6)


def test_cerra_daily_store_names_a_missing_day_and_a_reprojection(tmp_path):
    files = _year_files(tmp_path, skip_day=pd.Timestamp("2016-03-14"))

    def prepare(reproject):
        out = {"out_path": tmp_path / "w.zarr", "daily_path": tmp_path / "d.zarr"}
        prepare_cerra(files, variables=[], period=PERIOD_2016, crop=None, reproject=reproject, **out)

    with pytest.raises(DataError, match=r"analysis-03\.grib: no data on 2016-03-14.*every day"):
        prepare(None)
    assert not (tmp_path / "d.zarr").exists() and not (tmp_path / "w.zarr").exists()
    with pytest.raises(ConfigError, match="native Lambert grid only.*reproject_crs: none"):
        prepare(Target("EPSG:4326", 0.05, "bilinear"))


def test_cerra_reprojected_to_lat_lon_keeps_a_linear_field(tmp_path):
    files = {
        (2016, m): [str(write_cerra(tmp_path / f"analysis-{m:02d}.grib", month_steps(2016, m), gradient=0.1))]
        for m in range(1, 13)
    }
    period = {"start_year": 2016, "end_year": 2016, "train_years": [2016]}
    target = Target.from_config({"reproject_crs": "EPSG:4326", "reproject_resolution": 0.02, "resampling": "bilinear"})
    out = tmp_path / "cerra_weekly.zarr"
    prepare_cerra(files, out_path=out, variables=[], period=period, crop=None, reproject=target, workers=1)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".grib")) == [
        "cerra_weekly.zarr"
    ]  # no scratch left
    ds = xr.open_zarr(out)
    assert ds.rio.crs.to_epsg() == 4326 and ds.attrs["reprojection"]["resampling"] == "bilinear"
    assert ds["t2m_mean"].dims == ("time", "y", "x") and ds.sizes["time"] == 52
    np.testing.assert_allclose(np.abs(np.diff(ds["x"].values)), 0.02)
    assert ds["x"].attrs["units"] == "degrees_east" and ds["latitude"].dims == ("y", "x")
    np.testing.assert_allclose(
        ds["longitude"].values, np.broadcast_to(ds["x"].values, ds["longitude"].shape), atol=1e-9
    )
    native = open_cerra(files[(2016, 1)][0])
    to_native = pyproj.Transformer.from_crs("EPSG:4326", native.attrs["crs_wkt"], always_xy=True)
    col = (to_native.transform(ds["longitude"].values, ds["latitude"].values)[0] - native["x"].values[0]) / 5500.0
    mean, land = ds["t2m_mean"].values[3], ds["land_mask"].values
    inside = (col > 0.5) & (col < NX - 1.5) & np.isfinite(mean)
    assert inside.sum() > 50 and land[inside].all() and not land.all()  # outside the Lambert grid: no data
    np.testing.assert_allclose(mean[inside], 280.5 + 0.1 * col[inside], atol=2e-3)  # bilinear keeps a linear field
    np.testing.assert_allclose(ds["t2m_std"].values[3][inside], 0.5, atol=1e-4)
    np.testing.assert_allclose(ds["t2m_mean_clim"].values[3][inside], mean[inside], atol=1e-5)  # one training year
    assert np.isnan(mean[~land]).all()


def test_reprojection_config_errors_name_the_key():
    assert Target.from_config({"reproject_crs": "none", "reproject_resolution": 0, "resampling": "bilinear"}) is None
    with pytest.raises(ConfigError, match="prepare.cerra.reproject_crs"):
        Target.from_config({"reproject_crs": "EPSG:99999999", "reproject_resolution": 0, "resampling": "bilinear"})
    with pytest.raises(ConfigError, match="prepare.cerra.reproject_resolution"):
        Target.from_config({"reproject_crs": "EPSG:3035", "reproject_resolution": -1, "resampling": "bilinear"})
    with pytest.raises(ConfigError, match="prepare.cerra.resampling"):
        Target.from_config({"reproject_crs": "EPSG:3035", "reproject_resolution": 0, "resampling": "lanczos3"})


def test_cerra_truncated_file_names_it(tmp_path):
    path = write_cerra(tmp_path / "analysis-01.grib", month_steps(2016, 1)[:4])
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(DataError, match=r"analysis-01\.grib: the GRIB message after byte \d+ is incomplete.*truncated"):
        read_values(open_cerra(path), "t2m")


def test_cerra_month_on_another_grid_names_the_file_and_both_grids(tmp_path):
    files = {
        (2016, m): [str(write_cerra(tmp_path / f"analysis-{m:02d}.grib", month_steps(2016, m), nx=NX + (m == 5)))]
        for m in range(1, 13)
    }
    out = tmp_path / "cerra_weekly.zarr"
    period = {"start_year": 2016, "end_year": 2016, "train_years": [2016]}
    message = r"analysis-05\.grib: its grid \(x 7 points .*\) is not the grid of .*analysis-01\.grib \(x 6 points"
    with pytest.raises(DataError, match=message + r".*whole 1069 x 1069 Lambert grid"):
        prepare_cerra(files, out_path=out, variables=[], period=period, crop=None, reproject=None, workers=2)
    assert not out.exists()


# --- VHP ----------------------------------------------------------------------------------------------

from terraflux.prepare import stores, weekly  # noqa: E402
from terraflux.prepare.vhp import prepare_vhp  # noqa: E402

import netCDF4  # noqa: E402


def write_vhp(path, vhi, north=48.0, west=8.0, step=0.025):
    """A VHP VH file in NOAA's layout: HEIGHT x WIDTH, edges in global attributes, fill -999."""
    ny, nx = vhi.shape
    with netCDF4.Dataset(path, "w") as nc:
        nc.setncatts(
            {
                "START_LATITUDE_RANGE": np.float32(north),
                "END_LATITUDE_RANGE": np.float32(north - ny * step),
                "START_LONGITUDE_RANGE": np.float32(west),
                "END_LONGITUDE_RANGE": np.float32(west + nx * step),
            }
        )
        nc.createDimension("HEIGHT", ny)
        nc.createDimension("WIDTH", nx)
        for name in ("VCI", "TCI", "VHI"):
            var = nc.createVariable(name, "f4", ("HEIGHT", "WIDTH"), fill_value=np.float32(-999))
            var[:] = np.ma.masked_invalid(vhi)
    return path


def weekly_target(path, lat, lon, two_d=False):
    coords = {**weekly.coords(2016, 2016)}
    if two_d:
        coords.update(
            y=(("y",), np.arange(lat.shape[0]) * 5500.0, {}), x=(("x",), np.arange(lat.shape[1]) * 5500.0, {})
        )
        coords.update(latitude=(("y", "x"), lat, {}), longitude=(("y", "x"), lon, {}))
        space = ("y", "x")
    else:
        coords.update(latitude=(("latitude",), lat, {}), longitude=(("longitude",), lon, {}))
        space = ("latitude", "longitude")
    group = stores.create(path, coords, {"land_mask": stores.variable(space, {}, bool)}, weekly.CHUNKS, {}, crs=None)
    group["land_mask"][:] = True
    stores.finish(path)
    return path


def test_vhp_on_regular_and_lambert_grids(tmp_path):
    files = {}
    base = np.full((8, 12), 50.0, np.float32)
    base[:4, :4] = 20.0  # a drought in the north-west 0.1 x 0.1 degree cell
    base[0, 0] = np.nan  # one invalid pixel (fill value)
    for week in range(1, 53):
        files[(2016, week)] = write_vhp(tmp_path / vhp.file_name("npp", 2016, week), base + (week == 3) * 10)
    target = weekly_target(tmp_path / "era5_land_weekly.zarr", np.array([47.95, 47.85]), np.array([8.05, 8.15, 8.25]))
    prepare_vhp(files, weekly_store=target, out_path=tmp_path / "vhp_era5_land.zarr")
    ds = xr.open_zarr(tmp_path / "vhp_era5_land.zarr")
    assert ds["VHI"].dims == ("time", "latitude", "longitude")
    assert ds["VHI"].values[0, 0, 0] == pytest.approx(20.0) and ds["VHI"].values[0, 1, 2] == pytest.approx(50.0)
    assert ds["VHI"].values[2, 0, 0] == pytest.approx(30.0)  # week 3 of 2016
    assert ds["extreme"].values[0, 0, 0] and not ds["extreme"].values[2, 0, 0] and ds["extreme_loose"].values[2, 0, 0]
    lat2 = np.array([[47.99, 47.99], [47.86, 47.86]])
    lon2 = np.array([[8.01, 8.21], [8.01, 8.21]])
    target = weekly_target(tmp_path / "cerra_weekly.zarr", lat2, lon2, two_d=True)
    prepare_vhp(files, weekly_store=target, out_path=tmp_path / "vhp_cerra.zarr")
    ds = xr.open_zarr(tmp_path / "vhp_cerra.zarr")
    assert ds["VHI"].dims == ("time", "y", "x")
    assert np.isnan(ds["VHI"].values[0, 0, 0]) and not ds["valid"].values[0, 0, 0]  # nearest pixel is the invalid one
    assert ds["VHI"].values[0, 1, 0] == pytest.approx(50.0) and ds["VHI"].values[0, 1, 1] == pytest.approx(50.0)


def test_vhp_missing_week_is_an_error(tmp_path):
    files = {
        (2016, w): write_vhp(tmp_path / vhp.file_name("npp", 2016, w), np.full((8, 12), 50.0, np.float32))
        for w in range(1, 52)
    }
    target = weekly_target(tmp_path / "era5_land_weekly.zarr", np.array([47.95]), np.array([8.05]))
    with pytest.raises(DataError, match=r"VHP data missing for week\(s\) \['2016-W52'\]"):
        prepare_vhp(files, weekly_store=target, out_path=tmp_path / "vhp.zarr")
    assert not (tmp_path / "vhp.zarr").exists()


def test_vhp_week_without_valid_pixel_stays_nan_and_is_logged(tmp_path, caplog):
    files = {}
    for week in range(1, 53):  # week 3: snow over the whole (small) region, every pixel at the fill value
        vhi = np.full((8, 12), np.nan if week == 3 else 50.0, np.float32)
        files[(2016, week)] = write_vhp(tmp_path / vhp.file_name("npp", 2016, week), vhi)
    target = weekly_target(tmp_path / "era5_land_weekly.zarr", np.array([47.95, 47.85]), np.array([8.05, 8.15]))
    with caplog.at_level("WARNING", logger="terraflux.prepare.vhp"):
        prepare_vhp(files, weekly_store=target, out_path=tmp_path / "vhp.zarr")
    ds = xr.open_zarr(tmp_path / "vhp.zarr")
    assert np.isnan(ds["VHI"].values[2]).all() and not ds["valid"].values[2].any() and not ds["extreme"].values[2].any()
    assert (ds["VHI"].values[[0, 1, 3, 51]] == 50.0).all() and ds["valid"].values[[0, 1, 3, 51]].all()
    assert ds.attrs["weeks_without_valid_pixel"] == ["2016-W03"]
    assert [r.getMessage() for r in caplog.records] == [
        f"{files[(2016, 3)]}: no valid VHI pixel on the grid (all fill values); the week stays NaN (valid = False)"
    ]


def test_vhp_file_outside_the_grid_names_it(tmp_path):
    files = {
        (2016, w): write_vhp(tmp_path / vhp.file_name("npp", 2016, w), np.full((8, 12), 50.0, np.float32))
        for w in range(1, 53)
    }
    files[(2016, 9)] = write_vhp(tmp_path / "elsewhere.nc", np.full((8, 12), 50.0, np.float32), north=10.0, west=100.0)
    target = weekly_target(tmp_path / "era5_land_weekly.zarr", np.array([47.95]), np.array([8.05]))
    with pytest.raises(DataError, match=r"elsewhere\.nc: its pixels \(latitude 9\.8.*all lie outside the grid"):
        prepare_vhp(files, weekly_store=target, out_path=tmp_path / "vhp.zarr")
    assert not (tmp_path / "vhp.zarr").exists()
