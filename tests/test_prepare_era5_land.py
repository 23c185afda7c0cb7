"""prepare_era5_land: values against the closed-form truth of the generated CDS files, layout, bad input."""

import sys
from pathlib import Path

import terraflux  # noqa: F401
from terraflux.errors import DataError
from terraflux.prepare import grid
from terraflux.prepare.era5_land import MonthTask, Settings, prepare_era5_land, reduce_month, vpd_hpa
from terraflux.sources import era5_land
from terraflux.sources.era5_land import read as era5_land_read
from terraflux.sources.era5_land import write as era5_land_write

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import cds_files  # noqa: E402

NY, NX = 6, 8
REGION = {"north": 48.0, "south": 47.5, "west": 8.0, "east": 8.7}
PERIOD = {"start_year": 2016, "end_year": 2017, "train_years": [2016]}
VARIABLES = ["2m_temperature", "2m_dewpoint_temperature", "total_precipitation"]


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    files = {}
    for year in (2016, 2017):
        for month in range(1, 13):
            path = root / era5_land.raw_path("hourly", year, month)
            cds_files.write_month(path, year, month, ("t2m", "d2m", "tp"), NY, NX)
            files[(year, month)] = [str(path)]
    return files


def run(files, out, workers=1, **kwargs):
    paths = {k: out / f"era5_land_{k}.zarr" for k in ("daily", "weekly", "monthly")}
    options = dict(
        variables=VARIABLES,
        region=REGION,
        period=PERIOD,
        factor=2,
        product="hourly",
        hours=range(24),
        workers=workers,
        strict=True,
    )
    options.update(kwargs)
    summary = prepare_era5_land(
        files, daily_path=paths["daily"], weekly_path=paths["weekly"], monthly_path=paths["monthly"], **options
    )
    return summary, paths


@pytest.fixture(scope="module")
def prepared(raw, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared")
    summary, paths = run(raw, out, workers=2, provenance={"rule": "test"})
    return summary, {k: xr.open_zarr(p) for k, p in paths.items()}, paths


def truth(name, start, end):
    times = pd.date_range(start, end, freq="h")
    return cds_files.hourly_truth(name, times, NY, NX).astype(np.float64)


def test_daily_values_and_deaccumulation_across_month_end(prepared):
    _, stores, _ = prepared
    daily = stores["daily"]
    sea = cds_files.sea(NY, NX)
    for day in ("2016-01-01", "2016-02-29", "2016-03-31", "2017-06-15"):
        start = pd.Timestamp(day)
        t2m = truth("t2m", start, start + pd.Timedelta(hours=23)).mean(axis=0)
        np.testing.assert_allclose(daily["t2m"].sel(time=day).values[~sea], t2m[~sea], rtol=1e-6)
        # accumulated: the day's total is the 00 UTC value of the next day (read from the next month's file)
        tp = truth("tp", start + pd.Timedelta(hours=1), start + pd.Timedelta(hours=24)).sum(axis=0)
        np.testing.assert_allclose(daily["tp"].sel(time=day).values[~sea], tp[~sea], rtol=1e-5)
    assert np.isnan(daily["t2m"].isel(time=0).values[sea]).all()
    assert (
        daily["tp"].attrs["units"] == "m d-1"
        and daily["t2m"].attrs["units"] == "K"
        and daily["vpd"].attrs["units"] == "hPa"
    )
    assert daily["t2m"].dtype == np.float32
    assert daily.sizes["time"] == 731
    hourly_vpd = vpd_hpa(
        truth("t2m", "2016-07-01", "2016-07-01 23:00"), truth("d2m", "2016-07-01", "2016-07-01 23:00")
    ).mean(axis=0)
    np.testing.assert_allclose(daily["vpd"].sel(time="2016-07-01").values[~sea], hourly_vpd[~sea], rtol=1e-5)
    # the hourly VPD against tabulated saturation vapour pressures over water (Buck 1981, J. Appl. Meteor. 20,
    # 1527-1532): 12.28 hPa at 10 degC, 23.39 hPa at 20 degC; none when the air is saturated
    tabulated = vpd_hpa(np.array([293.15, 283.15, 290.0], np.float32), np.array([283.15, 273.15, 290.0], np.float32))
    np.testing.assert_allclose(tabulated, [23.39 - 12.28, 12.28 - 6.11, 0.0], rtol=5e-3)


def test_last_day_of_the_period_is_extrapolated_and_recorded(prepared):
    summary, stores, _ = prepared
    assert summary["extrapolated_last_day"] == {"2017-12": ["tp"]}
    assert stores["daily"].attrs["extrapolated_last_day"] == {"2017-12": ["tp"]}
    assert np.isfinite(stores["daily"]["tp"].sel(time="2017-12-31").values[0, 0])


def test_weekly_mean_std_follow_the_ide_week_convention(prepared):
    _, stores, _ = prepared
    weekly = stores["weekly"]
    assert weekly.sizes["time"] == 104
    assert pd.Timestamp(weekly["time"].values[51]) == pd.Timestamp("2016-12-23")  # week 52 = days 358..366
    assert list(weekly["week"].values[:3]) == [1, 2, 3] and weekly["year"].values[52] == 2017
    # week 5 of 2016 spans January and February (days 29..35)
    values = truth("t2m", "2016-01-29", "2016-02-04 23:00")
    sea = cds_files.sea(NY, NX)
    np.testing.assert_allclose(weekly["t2m_mean"].isel(time=4).values[~sea], values.mean(axis=0)[~sea], rtol=1e-6)
    np.testing.assert_allclose(weekly["t2m_std"].isel(time=4).values[~sea], values.std(axis=0)[~sea], rtol=1e-4)
    # week 52 of 2016: 9 days (358..366)
    values = truth("t2m", "2016-12-23", "2016-12-31 23:00")
    np.testing.assert_allclose(weekly["t2m_mean"].isel(time=51).values[~sea], values.mean(axis=0)[~sea], rtol=1e-6)
    # accumulated: mean of the hourly increments as a rate per day
    values = truth("tp", "2016-01-08 01:00", "2016-01-15 00:00") * 24
    np.testing.assert_allclose(weekly["tp_mean"].isel(time=1).values[~sea], values.mean(axis=0)[~sea], rtol=1e-4)


def test_climatology_uses_training_years_only(prepared):
    _, stores, _ = prepared
    weekly = stores["weekly"]
    clim = weekly["t2m_mean_clim"]
    assert clim.dims == ("week_of_year", "latitude", "longitude")
    np.testing.assert_array_equal(clim.values, weekly["t2m_mean"].isel(time=slice(0, 52)).values)  # 2016 only
    assert np.nanmax(weekly["t2m_std_clim"].values) == 0.0  # one training year


def test_monthly_block_means_on_the_model_grid(prepared):
    _, stores, _ = prepared
    monthly, daily = stores["monthly"], stores["daily"]
    cell_lat, cell_lon = grid.model_grid(daily["latitude"].values, daily["longitude"].values, 2)
    np.testing.assert_allclose(monthly["latitude"].values, cell_lat)
    assert monthly.sizes == {"time": 24, "latitude": 3, "longitude": 4}
    march = daily["t2m"].sel(time="2016-03").mean("time").values
    np.testing.assert_allclose(monthly["t2m"].sel(time="2016-03-01").values[0, 0], march[:2, :2].mean(), rtol=1e-6)
    sea = cds_files.sea(NY, NX)
    block = march[4:6, 6:8][~sea[4:6, 6:8]]
    expected = block.mean() if block.size else np.nan
    np.testing.assert_allclose(monthly["t2m"].sel(time="2016-03-01").values[2, 3], expected, rtol=1e-6)
    train = monthly["t2m"].sel(time="2016").values
    assert monthly["t2m"].attrs["mean"] == pytest.approx(float(np.nanmean(train)), rel=1e-6)
    assert monthly["land_mask"].dtype == bool


def test_layout_crs_chunks_and_provenance(prepared):
    _, stores, _ = prepared
    for store in stores.values():
        assert store.rio.crs.to_epsg() == 4326
        assert store.attrs["provenance"] == {"rule": "test"}
        assert store.attrs["train_years"] == [2016]
        assert (np.diff(store["latitude"].values) < 0).all()
    assert stores["daily"]["t2m"].encoding["chunks"] == (32, NY, NX)
    assert stores["weekly"]["t2m_mean"].encoding["chunks"] == (8, NY, NX)
    assert stores["monthly"]["t2m"].encoding["chunks"] == (24, 3, 4)


def test_one_worker_and_two_workers_write_identical_stores(raw, prepared, tmp_path):
    _, stores, _ = prepared
    _, paths = run(raw, tmp_path, workers=1, provenance={"rule": "test"})
    for name, path in paths.items():
        single = xr.open_zarr(path)
        for var in single.data_vars:
            np.testing.assert_array_equal(single[var].values, stores[name][var].values, err_msg=f"{name}.{var}")


def test_month_missing_names_it_and_writes_nothing(raw, tmp_path):
    files = dict(raw)
    del files[(2017, 3)]
    with pytest.raises(DataError, match=r"2017-03 is missing"):
        run(files, tmp_path)
    assert not list(tmp_path.iterdir())


def test_bad_file_midway_leaves_nothing_half_written(raw, tmp_path):
    files = dict(raw)
    broken = tmp_path / "raw" / "broken.nc"
    broken.parent.mkdir()
    broken.write_bytes(Path(raw[(2016, 7)][0]).read_bytes()[:5000])
    files[(2016, 7)] = [str(broken)]
    out = tmp_path / "out"
    with pytest.raises(DataError, match=r"broken\.nc.*truncated or corrupt"):
        run(files, out, workers=2)
    assert not list(out.iterdir())


def test_incomplete_month_is_an_error_when_strict(tmp_path):
    times = pd.date_range("2016-02-01", "2016-02-20", freq="h")
    path = cds_files.write_month(tmp_path / "february.nc", 2016, 2, ("t2m",), NY, NX, times=times)
    settings = Settings(["t2m"], REGION, 2, 2016, list(range(24)), strict=True)
    with pytest.raises(DataError, match=r"february\.nc: 239 of 696 hourly steps of 2016-02 are missing"):
        reduce_month(MonthTask(2016, 2, [str(path)], [], "hourly"), settings)


def test_era5t_hours_are_recorded(tmp_path):
    times = cds_files.month_times(2016, 1)
    codes = ["0001"] * (len(times) - 48) + ["0005"] * 48
    path = cds_files.write_month(tmp_path / "january.nc", 2016, 1, ("t2m",), NY, NX, expver=codes)
    result = reduce_month(
        MonthTask(2016, 1, [str(path)], [], "hourly"), Settings(["t2m"], REGION, 2, 2016, list(range(24)), True)
    )
    assert result.era5t_hours == 48


def test_real_sample_over_sea_is_refused_naming_the_file_and_variable(samples):
    """The real CDS sample holds sea points only (60 N, 0 E: every value NaN): the same code that prepares a
    month reads it and stops, naming the file and the variable, instead of writing empty stores."""
    paths = [str(next((samples / "era5_land").glob(f"*_{kind}_temperature_*.nc"))) for kind in ("air", "dewpoint")]
    with netCDF4.Dataset(paths[0]) as nc:
        assert np.isnan(np.asarray(nc["t2m"][:], dtype=np.float64)).all()
    region = {"north": 60.0, "south": 59.7, "west": 0.0, "east": 0.3}
    with pytest.raises(DataError, match=r"era5-land_air_temperature_2020-1\.nc.*t2m has no value at all.*region"):
        reduce_month(
            MonthTask(2020, 1, paths, [], "hourly"),
            Settings(["t2m", "d2m"], region, 2, 2020, list(range(24)), strict=False),
        )


def test_daily_statistics_product_zip(tmp_path):
    import zipfile

    days = pd.date_range("2016-01-01", "2016-01-31", freq="D")
    members = []
    for name, long in (("t2m", "2m_temperature"), ("tp", "total_precipitation")):
        member = era5_land.DAILY_MEMBER.format(request=long, statistic="daily_mean")
        path = cds_files.write_month(tmp_path / member, 2016, 1, (name,), NY, NX, times=days)
        with netCDF4.Dataset(path, "a") as nc:  # the product's values: a statistic of hourly amounts (m per hour)
            if name == "tp":
                nc["tp"][:] = np.full((len(days), NY, NX), 1e-4, np.float32)
        members.append(path)
    bundle = tmp_path / "daily.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        for path in members:
            archive.write(path, path.name)
    result = reduce_month(
        MonthTask(2016, 1, [str(bundle)], [], "daily"), Settings(["t2m", "tp"], REGION, 2, 2016, [0], True)
    )
    sea = cds_files.sea(NY, NX)
    np.testing.assert_allclose(result.daily["t2m"][:, ~sea], cds_files.hourly_truth("t2m", days, NY, NX)[:, ~sea])
    np.testing.assert_allclose(result.daily["tp"][:, ~sea], 24e-4, rtol=1e-6)  # per day
    assert result.units["tp"] == "m d-1"
    first_week = cds_files.hourly_truth("t2m", days[:7], NY, NX).astype(float)
    np.testing.assert_allclose(result.weekly[0]["t2m"].mean[~sea], first_week.mean(axis=0)[~sea], rtol=1e-6)


# --- global files on 0..360 longitudes ----------------------------------------------------------------------

GLOBAL_LAT = np.round(48.0 - 0.1 * np.arange(3), 1)
GLOBAL_LON = np.round(0.1 * np.arange(3600), 1)  # 0.0 .. 359.9, as a global ERA5-Land file


def global_file(path, times, longitudes):
    """A global-width ERA5-Land NetCDF4 (written with the source writer) on ``longitudes`` (0..360 or -180..180),
    t2m and tp whose values are a function of the geographic longitude: the two layouts hold the same fields."""
    east = np.mod(longitudes, 360.0)[None, None, :]
    hours = (times - pd.Timestamp("1970-01-01")) // pd.Timedelta(hours=1)
    step = np.asarray(hours % 24, np.float32)[:, None, None]
    t2m = (270.0 + east / 10.0 + step + np.zeros((1, len(GLOBAL_LAT), 1))).astype(np.float32)
    tp = (1e-5 * (1 + east / 360.0) * np.where(step == 0, 24, step) + np.zeros((1, len(GLOBAL_LAT), 1))).astype(
        np.float32
    )  # accumulated from 00 UTC (the 00 UTC value holds the whole previous day)
    fields = [(era5_land.BY_SHORT["t2m"], t2m), (era5_land.BY_SHORT["tp"], tp)]
    seconds = np.asarray(hours, np.int64) * 3600
    era5_land_write.netcdf(
        path, GLOBAL_LAT, longitudes, seconds, ["0001"] * len(times), fields, era5_land_write.delivery_time(2016, 1)
    )
    return str(path)


def europe_region(repo_root):
    """The region of the Europe preset (config/europe.yaml), 25 W to 45 E: across the Greenwich meridian."""
    import yaml

    region = yaml.safe_load((repo_root / "config" / "europe.yaml").read_text())["region"]
    assert region["west"] < 0 < region["east"] and region["south"] < GLOBAL_LAT.min() < region["north"]
    return region


def test_global_file_on_0_360_is_cropped_across_greenwich_like_the_same_file_on_minus_180_180(tmp_path, repo_root):
    january = pd.date_range("2016-01-31 00:00", periods=24, freq="h")
    february = pd.date_range("2016-02-01 00:00", periods=2, freq="h")
    shifted = np.round(np.where(GLOBAL_LON >= 180, GLOBAL_LON - 360, GLOBAL_LON), 1)
    order = np.argsort(shifted)
    files = {}
    for name, longitudes in (("0_360", GLOBAL_LON), ("minus180_180", shifted[order])):
        files[name] = [
            global_file(tmp_path / f"{name}_{m}.nc", t, longitudes) for m, t in (("01", january), ("02", february))
        ]
    region = europe_region(repo_root)
    settings = Settings(["t2m", "tp"], region, 2, 2016, list(range(24)), strict=False)
    results = {
        name: reduce_month(MonthTask(2016, 1, [paths[0]], [paths[1]], "hourly"), settings)
        for name, paths in files.items()
    }
    with era5_land_read.open_hourly(files["0_360"][0], ["t2m"]) as ds:
        cropped = grid.crop(ds, region, "test")
        lon = cropped["longitude"].values
        assert lon[0] == pytest.approx(region["west"]) and lon[-1] == pytest.approx(region["east"])
        assert (np.diff(lon) > 0).all() and len(lon) == round((region["east"] - region["west"]) / 0.1) + 1
        east = np.mod(lon, 360.0)
        np.testing.assert_allclose(cropped["t2m"].values[5, 1], 270.0 + east / 10.0 + 5, rtol=1e-6)
    wide, narrow = results["0_360"], results["minus180_180"]
    assert wide.daily["t2m"].shape == (31, 3, len(lon))
    for name in ("t2m", "tp"):
        np.testing.assert_array_equal(wide.daily[name], narrow.daily[name])
        np.testing.assert_array_equal(wide.monthly[name], narrow.monthly[name])
    # 31 January: t2m the mean of its hours, tp the day's total from February's 00 UTC record
    np.testing.assert_allclose(wide.daily["t2m"][30, 0], 270.0 + np.mod(lon, 360.0) / 10.0 + 11.5, rtol=1e-6)
    np.testing.assert_allclose(wide.daily["tp"][30, 0], 24e-5 * (1 + np.mod(lon, 360.0) / 360.0), rtol=1e-4)


@pytest.mark.parametrize("west, east", [(10.0, 20.0), (-100.0, -80.0), (260.0, 280.0)], ids=["east", "west", "360"])
def test_regions_east_or_west_of_greenwich_on_a_0_360_file(tmp_path, west, east):
    path = global_file(tmp_path / "global.nc", pd.date_range("2016-01-01", periods=2, freq="h"), GLOBAL_LON)
    region = {"north": 48.0, "south": 47.8, "west": west, "east": east}
    with era5_land_read.open_hourly(path, ["t2m"]) as ds:
        cropped = grid.crop(ds, region, path)
        lon = cropped["longitude"].values
        expected = np.round(np.arange(west, east + 0.05, 0.1), 1)
        expected = np.where(expected >= 180, expected - 360, expected)  # a region on 0..360 east of 180: -180..180
        np.testing.assert_allclose(lon, expected, atol=1e-9)
        np.testing.assert_allclose(cropped["t2m"].values[1, 0], 271.0 + np.mod(lon, 360.0) / 10.0, rtol=1e-6)


def test_region_outside_the_file_names_it(tmp_path):
    path = global_file(tmp_path / "global.nc", pd.date_range("2016-01-01", periods=1, freq="h"), GLOBAL_LON)
    with era5_land_read.open_hourly(path, ["t2m"]) as ds:
        with pytest.raises(DataError, match=r"global\.nc: no grid point inside the region"):
            grid.crop(ds, {"north": 10.0, "south": 5.0, "west": 10.0, "east": 20.0}, path)


# --- one month on another grid, a month of one time step ------------------------------------------------------


def test_month_on_another_grid_names_the_file_its_grid_and_the_expected_one(raw, tmp_path):
    files = dict(raw)
    other = tmp_path / "raw" / "era5-land_2016-07.nc"
    other.parent.mkdir()
    cds_files.write_month(other, 2016, 7, ("t2m", "d2m", "tp"), NY, NX - 2)  # a smaller area than the region
    files[(2016, 7)] = [str(other)]
    out = tmp_path / "out"
    out.mkdir()
    message = (
        r"era5-land_2016-07\.nc: its grid \(latitude 6 points 48\.\.47\.5, longitude 6 points 8\.\.8\.5\) is not the "
        r"grid of .*era5-land_2016-01\.nc \(latitude 6 points 48\.\.47\.5, longitude 8 points 8\.\.8\.7\).*"
        r"same config `region`.*rerun its download"
    )
    with pytest.raises(DataError, match=message):
        run(files, out, workers=2)
    assert not list(out.iterdir())


def test_month_of_a_single_time_step_reduces(tmp_path):
    times = pd.DatetimeIndex(["2016-01-10 12:00"])
    path = cds_files.write_month(tmp_path / "one.nc", 2016, 1, ("t2m",), NY, NX, times=times)
    result = reduce_month(
        MonthTask(2016, 1, [str(path)], [], "hourly"), Settings(["t2m"], REGION, 2, 2016, [12], strict=False)
    )
    np.testing.assert_allclose(result.daily["t2m"][9], cds_files.file_values("t2m", times, NY, NX)[0])
    assert np.isnan(result.daily["t2m"][[0, 10]]).all()
