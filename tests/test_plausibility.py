"""Plausibility of the gridded inputs when preparing (terraflux.prepare.plausibility): files in the real formats,
written with the sources' writers, pass; values in other units, variables without any value and empty land
masks stop with one message naming the file, the variable and what to do, and leave no store behind."""

import datetime as dt
import sys
from pathlib import Path

import terraflux  # noqa: F401
from terraflux.errors import DataError
from terraflux.prepare import plausibility
from terraflux.prepare.cerra import prepare_cerra
from terraflux.prepare.era5_land import prepare_era5_land
from terraflux.prepare.vhp import prepare_vhp
from terraflux.sources import cerra, era5_land, vhp
from terraflux.sources.cerra import write as cerra_write
from terraflux.sources.era5_land import write as era5_write
from terraflux.sources.vhp import write as vhp_write

import numpy as np
import pandas as pd
import pytest
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import cds_files  # noqa: E402

NY, NX = 6, 8
REGION = {"north": 48.0, "south": 47.5, "west": 8.0, "east": 8.7}
PERIOD = {"start_year": 2016, "end_year": 2016, "train_years": [2016]}
KELVIN = 273.15


def era5_year(folder: Path, edit=None) -> dict:
    """A year of hourly ERA5-Land (t2m, tp) in the new CDS NetCDF layout, one file per month, written with the
    source's writer; ``edit(month, name, values)`` may change a variable's values before they are written."""
    files = {}
    lat, lon = cds_files.grid(NY, NX)
    for month in range(1, 13):
        times = cds_files.month_times(2016, month)
        fields = []
        for name in ("t2m", "tp"):
            values = cds_files.file_values(name, times, NY, NX)
            fields.append((era5_land.BY_SHORT[name], edit(month, name, values) if edit else values))
        path = folder / era5_land.raw_path("hourly", 2016, month)
        path.parent.mkdir(parents=True, exist_ok=True)
        seconds = np.asarray((times - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1))
        codes = [era5_land.FINAL] * len(times)
        era5_write.netcdf(path, lat, lon, seconds, codes, fields, era5_write.delivery_time(2016, month))
        files[(2016, month)] = [str(path)]
    return files


def prepare(files: dict, out: Path, plausible=None) -> None:
    prepare_era5_land(
        files,
        daily_path=out / "era5_land_daily.zarr",
        weekly_path=out / "era5_land_weekly.zarr",
        monthly_path=out / "era5_land_monthly.zarr",
        variables=["2m_temperature", "total_precipitation"],
        region=REGION,
        period=PERIOD,
        factor=2,
        product="hourly",
        hours=range(24),
        workers=1,
        strict=True,
        plausible=plausible,
    )


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A good year prepared with the default checks: its folder (the weekly store is the VHP tests' grid)."""
    root = tmp_path_factory.mktemp("good")
    prepare(era5_year(root / "raw"), root / "prepared")
    return root / "prepared"


def test_a_real_format_year_inside_the_ranges_is_prepared(prepared):
    with xr.open_zarr(prepared / "era5_land_daily.zarr") as ds:
        assert ds["land_mask"].values.any() and float(ds["t2m"].mean()) > 250


def test_degc_labelled_kelvin_stops_naming_file_variable_and_range(tmp_path):
    """June's t2m written in degC (about 16) under units K: the job stops at June, names the file, the variable,
    the observed and the plausible range and the config key, and leaves no store."""
    files = era5_year(tmp_path / "raw", lambda month, name, v: v - KELVIN if (month, name) == (6, "t2m") else v)
    out = tmp_path / "prepared"
    with pytest.raises(DataError) as error:
        prepare(files, out)
    message = str(error.value)
    assert message.startswith(files[(2016, 6)][0] + ": t2m ranges from ")
    low, high = (float(v) for v in message.split("ranges from ")[1].split(" K,")[0].split(" to "))
    assert 0 < low < high < 30  # degC values
    assert "outside its plausible range 160 .. 350 K" in message and "prepare.plausibility.era5_land.t2m" in message
    assert not out.exists() or not list(out.iterdir())  # nothing under a final (or temporary) name


def test_a_range_override_or_the_switch_accepts_what_the_table_refuses(tmp_path):
    files = era5_year(tmp_path / "raw", lambda month, name, v: v - KELVIN if name == "t2m" else v)
    with pytest.raises(DataError, match="t2m ranges from"):
        prepare(files, tmp_path / "default")
    prepare(files, tmp_path / "override", {"check": True, "era5_land": {"t2m": [-90, 60]}})
    with xr.open_zarr(tmp_path / "override" / "era5_land_daily.zarr") as ds:
        assert -30 < float(ds["t2m"].mean()) < 30
    prepare(files, tmp_path / "off", {"check": False, "era5_land": {}})
    assert (tmp_path / "off" / "era5_land_weekly.zarr").exists()


def test_a_variable_without_any_value_stops_naming_the_file(tmp_path):
    files = era5_year(tmp_path / "raw", lambda month, name, v: v * np.nan if (month, name) == (3, "tp") else v)
    out = tmp_path / "prepared"
    with pytest.raises(DataError, match=r"era5-land_2016-03\.nc: tp has no value at all .*config `region`"):
        prepare(files, out, {"check": False})  # the missing-data checks run without the range checks too
    assert not out.exists() or not list(out.iterdir())


def test_an_empty_land_mask_stops_naming_the_file(tmp_path):
    """Data only in the middle of the month: the land mask (points with data at the first or last step) is empty."""

    def edit(month, name, values):
        if month == 1:
            values = values.copy()
            values[[0, -1]] = np.nan
        return values

    files = era5_year(tmp_path / "raw", edit)
    with pytest.raises(DataError, match=r"era5-land_2016-01\.nc: no grid point has t2m data \(the land mask\)"):
        prepare(files, tmp_path / "prepared")
    assert not (tmp_path / "prepared" / "era5_land_daily.zarr").exists()


def cerra_year(folder: Path, celsius_month: int | None = None) -> dict:
    """A year of CERRA analyses (t2m, 2 steps a day) on a 6 x 5 window, written with the source's writer."""
    files = {}
    t2m = cerra.BY_REQUEST["2m_temperature"]
    for month in range(1, 13):
        start = pd.Timestamp(2016, month, 1)
        times = pd.date_range(start, start + pd.offsets.MonthEnd(0) + pd.Timedelta(hours=12), freq="12h")
        hours = np.asarray((times - pd.Timestamp("1970-01-01")) // pd.Timedelta(hours=1))
        field = np.full((len(times), 5, 6), 285.0, np.float32) - (KELVIN if month == celsius_month else 0.0)
        path = folder / cerra.raw_path("analysis", 2016, month)
        path.parent.mkdir(parents=True, exist_ok=True)
        cerra_write.grib(path, 6, 5, (45.0, 5.0), [t2m], hours, {"t2m": field}, accumulation_hours=None)
        files[(2016, month)] = [str(path)]
    return files


def test_cerra_in_degc_stops_naming_the_grib_file(tmp_path):
    period = {"start_year": 2016, "end_year": 2016, "train_years": [2016]}
    good = cerra_year(tmp_path / "good")
    prepare_cerra(good, out_path=tmp_path / "good.zarr", variables=[], period=period, crop=None, reproject=None)
    assert (tmp_path / "good.zarr").exists()
    bad = cerra_year(tmp_path / "bad", celsius_month=2)
    with pytest.raises(DataError) as error:
        prepare_cerra(bad, out_path=tmp_path / "bad.zarr", variables=[], period=period, crop=None, reproject=None)
    assert str(error.value).startswith(f"{bad[(2016, 2)][0]}: t2m ranges from 11.85 to 11.85 K")
    assert "prepare.plausibility.cerra.t2m" in str(error.value)
    assert not (tmp_path / "bad.zarr").exists()


def vhp_weeks(folder: Path, scale_week: int | None = None) -> dict:
    """52 NOAA VHP weekly files over the ERA5-Land region (sea pixels hold the fill), written with the source's
    writer; in ``scale_week`` the indices are stored x 100 (0..10000, as integer-scaled products do)."""
    lat = 48.0 - vhp.STEP * (np.arange(16) + 0.5)
    lon = 8.0 + vhp.STEP * (np.arange(22) + 0.5)
    sea = np.zeros((16, 22), bool)
    sea[-3:, -3:] = True
    files = {}
    for week in range(1, vhp.WEEKS + 1):
        value = 45.0 * (100 if week == scale_week else 1)
        indices = {name: np.full(sea.shape, value, np.float32) for name in vhp.VARIABLES}
        path = folder / vhp.file_name("npp", 2016, week)
        path.parent.mkdir(parents=True, exist_ok=True)
        begin = dt.date(2016, 1, 1) + dt.timedelta(days=7 * (week - 1))
        vhp_write.week_file(path, lat, lon, indices, sea, "npp", 2016, week, begin)
        files[(2016, week)] = path
    return files


def test_vhp_indices_outside_0_to_100_stop_naming_the_file(tmp_path, prepared):
    weekly = prepared / "era5_land_weekly.zarr"
    prepare_vhp(vhp_weeks(tmp_path / "good"), weekly_store=weekly, out_path=tmp_path / "vhp_good.zarr")
    with xr.open_zarr(tmp_path / "vhp_good.zarr") as ds:
        assert float(ds["VHI"].max()) == pytest.approx(45.0)  # the fill is missing data, not a value
    bad = vhp_weeks(tmp_path / "bad", scale_week=9)
    message = r"P2016009\.VH\.nc: VHI ranges from 4500 to 4500, outside its plausible range 0 \.\. 100 \("
    with pytest.raises(DataError, match=message):
        prepare_vhp(bad, weekly_store=weekly, out_path=tmp_path / "vhp_bad.zarr")
    assert not (tmp_path / "vhp_bad.zarr").exists()


def test_every_variable_of_the_source_tables_has_a_range_in_its_file_units():
    for var in era5_land.VARIABLES:
        assert era5_land.canonical_units(era5_land.PLAUSIBLE[var.short].units) in era5_land.accepted_units(var.short)
    for var in cerra.VARIABLES:
        assert cerra.PLAUSIBLE[var.short].units == var.units, var.short
    assert set(vhp.PLAUSIBLE) == set(vhp.VARIABLES)
    for table in (era5_land.PLAUSIBLE, cerra.PLAUSIBLE, vhp.PLAUSIBLE):
        assert all(r.low < r.high and r.reason for r in table.values())


def test_bounds_hold_with_a_tolerance_of_a_thousandth_of_the_span():
    checks = plausibility.for_source("era5_land")
    plausibility.check(np.array([160.0 - 0.18, 350.0 + 0.18], np.float32), "t2m", "f.nc", checks)
    with pytest.raises(DataError, match="f.nc: t2m ranges from 159.8 to 350"):
        plausibility.check(np.array([159.8, 350.0], np.float32), "t2m", "f.nc", checks)
    plausibility.check(np.array([1.0, np.nan], np.float32), "vpd", "f.nc", checks)  # no range: only data needed
    plausibility.check(np.full(3, np.nan, np.float32), "VHI", "w.nc", plausibility.for_source("vhp"), False)
