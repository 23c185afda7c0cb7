"""Each source's writer against the real sample files (structure, not values) and the documented facts, and
its reader reading the written and the real file the same way."""

import json
import re
import zipfile
from pathlib import Path

import terraflux  # noqa: F401  (native libraries in a safe order)
from terraflux.sources import cerra, era5_land, insitu, land_cover, vhp
from terraflux.sources.cerra import read as cerra_read
from terraflux.sources.cerra import write as cerra_write
from terraflux.sources.era5_land import read as era5_read
from terraflux.sources.era5_land import write as era5_write
from terraflux.sources.formats.sniff import sniff
from terraflux.sources.insitu import layout as insitu_layout
from terraflux.sources.insitu import read as insitu_read
from terraflux.sources.insitu import sites as insitu_sites
from terraflux.sources.insitu import write as insitu_write
from terraflux.sources.land_cover import read as land_cover_read
from terraflux.sources.land_cover import write as land_cover_write
from terraflux.sources.vhp import read as vhp_read
from terraflux.sources.vhp import write as vhp_write

import netCDF4
import numpy as np
import pandas as pd
import pyproj
import pytest


def attrs(item) -> dict:
    return {name: item.getncattr(name) for name in item.ncattrs()}


def attr_types(item) -> dict:
    return {name: type(value) for name, value in attrs(item).items()}


# ---- ERA5-Land -------------------------------------------------------------------------------------------


def era5_sample(samples) -> Path:
    return next((samples / "era5_land").glob("*_air_temperature_*.nc"))


def era5_fields(names, ny=4, nx=5, times=6):
    rng = np.random.default_rng(1)
    return [(era5_land.BY_SHORT[name], rng.normal(280, 5, (times, ny, nx)).astype(np.float32)) for name in names]


@pytest.fixture
def era5_file(tmp_path):
    lat, lon = np.round(60.0 - 0.1 * np.arange(4), 1), np.round(0.1 * np.arange(5), 1)
    seconds = 1577836800 + 3600 * np.arange(6, dtype=np.int64)
    path = tmp_path / "ours.nc"
    era5_write.netcdf(
        path, lat, lon, seconds, ["0001"] * 6, era5_fields(["t2m", "tp"]), era5_write.delivery_time(2020, 1)
    )
    return path


def test_era5_land_netcdf_has_the_structure_of_the_real_sample(era5_file, samples):
    real, ours = netCDF4.Dataset(era5_sample(samples)), netCDF4.Dataset(era5_file)
    assert ours.data_model == real.data_model == "NETCDF4"
    assert attr_types(ours) == attr_types(real) and ours.Conventions == real.Conventions == "CF-1.7"
    assert ours.history.split(" ", 1)[1] == real.history.split(" ", 1)[1]  # the cfgrib conversion, after its time
    assert list(ours.dimensions) == list(real.dimensions) == ["valid_time", "latitude", "longitude"]
    assert list(ours.variables) == ["number", "valid_time", "latitude", "longitude", "expver", "t2m", "tp"]
    for name in ("number", "valid_time", "latitude", "longitude", "expver"):
        assert ours[name].dtype == real[name].dtype, name
        assert ours[name].dimensions == real[name].dimensions, name
        assert attrs(ours[name]).keys() == attrs(real[name]).keys(), name
    assert ours["valid_time"].units == real["valid_time"].units == "seconds since 1970-01-01"
    assert ours["latitude"].stored_direction == real["latitude"].stored_direction == "decreasing"
    sample, t2m = real["t2m"], ours["t2m"]
    assert t2m.dtype == sample.dtype == np.float32 and t2m.dimensions == sample.dimensions
    assert attr_types(t2m) == attr_types(sample)
    for key in ("GRIB_paramId", "GRIB_shortName", "GRIB_stepType", "GRIB_units", "long_name", "units", "GRIB_name"):
        assert t2m.getncattr(key) == sample.getncattr(key), key
    assert np.isnan(t2m.getncattr("_FillValue")) and np.isnan(sample.getncattr("_FillValue"))
    assert {k: t2m.filters()[k] for k in ("zlib", "shuffle", "complevel")} == {
        "zlib": True,
        "shuffle": True,
        "complevel": 1,
    }
    assert {k: sample.filters()[k] for k in ("zlib", "shuffle", "complevel")} == {
        "zlib": True,
        "shuffle": True,
        "complevel": 1,
    }
    assert ours["tp"].GRIB_stepType == "accum" and ours["tp"].GRIB_paramId == 228


def test_era5_land_table_matches_the_real_samples_attributes(samples):
    for path in (samples / "era5_land").glob("*.nc"):
        with netCDF4.Dataset(path) as nc:
            (name,) = [v for v in nc.variables if nc[v].dimensions == ("valid_time", "latitude", "longitude")]
            row = era5_land.BY_SHORT[name]
            assert (row.param_id, row.grib_short, row.units, row.name) == (
                nc[name].GRIB_paramId,
                nc[name].GRIB_shortName,
                nc[name].units,
                nc[name].long_name,
            )
            assert row.step_type == nc[name].GRIB_stepType


def test_era5_land_reader_reads_the_written_and_the_real_file_alike(era5_file, samples):
    with (
        era5_read.open_hourly(era5_sample(samples), ["2m_temperature"]) as real,
        era5_read.open_hourly(era5_file, ["2m_temperature"]) as ours,
    ):
        for ds in (real, ours):
            assert ds["t2m"].dims == ("time", "latitude", "longitude") and ds["t2m"].dtype == np.float32
            assert (
                ds["time"].dtype == np.dtype("datetime64[ns]")
                and list(ds["expver"].values) == ["0001"] * ds.sizes["time"]
            )
            assert (np.diff(ds["latitude"].values) < 0).all() and ds.attrs["era5t_hours"] == 0
        assert (
            pd.Timestamp(ours["time"].values[0]) == pd.Timestamp(real["time"].values[0]) == pd.Timestamp("2020-01-01")
        )
        assert set(ours.coords) == set(real.coords)


def test_era5_land_deliveries_read_alike(tmp_path):
    lat, lon = np.round(48.0 - 0.1 * np.arange(3), 1), np.round(8.0 + 0.1 * np.arange(4), 1)
    hours = (pd.Timestamp("2016-01-01") - pd.Timestamp("1970-01-01")) // pd.Timedelta(hours=1) + np.arange(1, 25)
    fields = era5_fields(["t2m", "tp"], 3, 4, 24)
    fields[1][1][:] = np.cumsum(np.full((24, 3, 4), 1e-4, np.float32), axis=0)  # accumulated from 00 UTC
    history = era5_write.delivery_time(2016, 1)
    paths = {}
    for kind, data_format, as_zip in (("netcdf", "netcdf", False), ("grib", "grib", False), ("zip", "netcdf", True)):
        paths[kind] = tmp_path / f"{kind}.nc"
        era5_write.hourly_month(
            paths[kind], lat, lon, hours, ["0001"] * 24, fields, history, data_format=data_format, as_zip=as_zip
        )
    assert [sniff(p) for p in paths.values()] == ["netcdf4", "grib", "zip"]
    assert sorted(zipfile.ZipFile(paths["zip"]).namelist()) == sorted(
        era5_land.STEP_TYPE_MEMBER.format(step_type=s) for s in ("instant", "accum")
    )
    with (
        era5_read.open_hourly(paths["netcdf"]) as ref,
        era5_read.open_hourly(paths["grib"]) as grib,
        era5_read.open_hourly(paths["zip"]) as zipped,
    ):
        for other, tolerance in ((grib, 0.01), (zipped, 0.0)):
            np.testing.assert_array_equal(other["time"].values, ref["time"].values)
            for name in ("t2m", "tp"):
                np.testing.assert_allclose(other[name].values, ref[name].values, atol=tolerance)


def test_era5_land_old_cds_netcdf3_reads_like_the_new_layout(tmp_path):
    lat, lon = np.round(48.0 - 0.1 * np.arange(3), 1), np.round(8.0 + 0.1 * np.arange(4), 1)
    times = pd.date_range("2016-01-01", periods=6, freq="h")
    fields = era5_fields(["t2m"], 3, 4, 6)
    era5_write.netcdf3(
        tmp_path / "old.nc", lat, lon, (times - pd.Timestamp("1900-01-01")) // pd.Timedelta(hours=1), fields
    )
    assert sniff(tmp_path / "old.nc") == "netcdf3"
    with era5_read.open_hourly(tmp_path / "old.nc", ["t2m"]) as ds:
        assert list(pd.DatetimeIndex(ds["time"].values)) == list(times) and ds["t2m"].dtype == np.float32
        np.testing.assert_allclose(ds["t2m"].values, fields[0][1], atol=0.01)


def test_era5_land_daily_zip_holds_one_file_per_variable(tmp_path):
    lat, lon = np.round(48.0 - 0.1 * np.arange(3), 1), np.round(8.0 + 0.1 * np.arange(4), 1)
    days = (pd.date_range("2016-02-01", periods=29) - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
    fields = era5_fields(["t2m", "tp"], 3, 4, 29)
    era5_write.daily_zip(
        tmp_path / "d.zip",
        lat,
        lon,
        np.asarray(days),
        ["0001"] * 29,
        fields,
        "daily_mean",
        era5_write.delivery_time(2016, 2),
        tmp_path,
    )
    names = zipfile.ZipFile(tmp_path / "d.zip").namelist()
    assert names == [era5_land.DAILY_MEMBER.format(request=v.request, statistic="daily_mean") for v, _ in fields]
    with era5_read.open_daily(tmp_path / "d.zip", ["t2m", "tp"]) as ds:
        assert ds.sizes["time"] == 29
        np.testing.assert_array_equal(ds["tp"].values, fields[1][1])


# ---- land cover ------------------------------------------------------------------------------------------

SAMPLE_AREA = [60, 0, 50, 10]  # the area of the real sample's request, N, W, S, E


def lccs_sample(samples) -> Path:
    return samples / "esa_cci_lc" / Path(land_cover.raw_path("lccs", 2020)).name


@pytest.fixture
def lccs_zip(tmp_path):
    lat = 60.0 - (np.arange(30) + 0.5) / 360
    lon = (np.arange(40) + 0.5) / 360
    classes = np.random.default_rng(0).choice(land_cover.FLAG_VALUES[1:], (30, 40)).astype(np.uint8)
    path = tmp_path / "ours.zip"
    land_cover_write.lccs_zip(
        path,
        2020,
        SAMPLE_AREA,
        tmp_path,
        lat=lat,
        lon=lon,
        classes=classes,
        observation_count=np.full(classes.shape, 7, np.uint16),
        tracking_id="00000000-0000-0000-0000-000000000000",
        creation_date="20210518T101540Z",
    )
    return path


def test_land_cover_zip_has_the_structure_of_the_real_sample(lccs_zip, samples, tmp_path):
    real_zip, ours_zip = zipfile.ZipFile(lccs_sample(samples)), zipfile.ZipFile(lccs_zip)
    assert ours_zip.namelist() == real_zip.namelist() == [land_cover.member_name(2020, SAMPLE_AREA)]
    real_zip.extractall(tmp_path / "real")
    ours_zip.extractall(tmp_path / "ours")
    real = netCDF4.Dataset(next((tmp_path / "real").glob("*.nc")))
    ours = netCDF4.Dataset(next((tmp_path / "ours").glob("*.nc")))
    assert ours.data_model == real.data_model
    assert attr_types(ours) == attr_types(real)
    assert list(ours.dimensions) == list(real.dimensions) and list(ours.variables) == list(real.variables)
    for name, var in real.variables.items():
        assert ours[name].dtype == var.dtype, name
        assert ours[name].dimensions == var.dimensions, name
        assert attr_types(ours[name]) == attr_types(var), name
    for name in ("lccs_class", "processed_flag", "current_pixel_state"):
        np.testing.assert_array_equal(ours[name].flag_values, real[name].flag_values)
        assert ours[name].flag_meanings == real[name].flag_meanings, name
    np.testing.assert_array_equal(real["lccs_class"].flag_values, land_cover.FLAG_VALUES)
    assert real["lccs_class"].flag_colors == land_cover.FLAG_COLORS
    assert real.product_version == ours.product_version == "2.1.1" and real.type == ours.type


def test_land_cover_reader_reads_the_written_and_the_real_zip_alike(lccs_zip, samples):
    for path in (lccs_sample(samples), lccs_zip):
        with land_cover_read.open_lccs(path) as lccs:
            assert lccs.dims == ("latitude", "longitude") and lccs.dtype == np.uint8
            assert (np.diff(lccs["latitude"].values) < 0).all()
            np.testing.assert_allclose(np.diff(lccs["longitude"].values), 1 / land_cover.PIXELS_PER_DEGREE)
            assert set(np.unique(lccs.values)) <= set(land_cover.FLAG_VALUES.tolist())


def test_land_cover_member_names_by_version():
    cdr, icdr = (land_cover.member_name(year, [47.5, 8, 46.5, 9]) for year in (2015, 2016))
    assert cdr.startswith("ESACCI-") and cdr.endswith("-2015-v2.0.7cds.area-subset.47.5.8.46.5.9.nc")
    assert icdr.startswith("C3S-") and icdr.endswith("-2016-v2.1.1.area-subset.47.5.8.46.5.9.nc")


def test_pft_product_file_has_the_documented_layout_and_reads_back(tmp_path):
    lat = 48.0 - (np.arange(30) + 0.5) / 360
    lon = 8.0 + (np.arange(2100) + 0.5) / 360  # wider than one 2025-pixel tile
    values = {name: np.full((30, 2100), k, np.uint8) for k, name in enumerate(land_cover.PFT_VARIABLES)}
    path = tmp_path / land_cover.raw_path("pft", 2016).rsplit("/", 1)[1]
    land_cover_write.pft_netcdf(path, 2016, lat, lon, values.items())
    with netCDF4.Dataset(path) as nc:
        assert list(nc.dimensions) == ["time", "lat", "lon"] and nc.product_version == "2.0.8"
        for name in land_cover.PFT_VARIABLES:
            assert nc[name].dtype == np.uint8 and nc[name].dimensions == ("time", "lat", "lon")
            assert nc[name].chunking() == [1, 30, land_cover_write.TILE]
    with land_cover_read.open_pft(path) as ds:
        assert set(ds.data_vars) == set(land_cover.PFT_VARIABLES) and ds["TREES-BE"].dims == ("latitude", "longitude")
        np.testing.assert_allclose(ds["latitude"].values, lat)
        for name in land_cover.PFT_VARIABLES:
            np.testing.assert_array_equal(ds[name].values, values[name])


# ---- FLUXNET2015 and CarbonSense ---------------------------------------------------------------------------

SITE = {
    "site_id": "FR-Pue",
    "latitude": 43.7413,
    "longitude": 3.5957,
    "elevation": 270.0,
    "igbp": "EBF",
    "network": "x",
}


def fluxnet_sample(samples) -> Path:
    return samples / "fluxnet2015" / insitu.fluxnet_file_name("FR-Pue", "MM", 2007, 2014, "2-3")


@pytest.fixture
def fluxnet_mm(tmp_path):
    periods = pd.period_range("2007-01", "2008-12", freq="M")
    n = len(periods)
    columns = {
        "NEE_VUT_REF": np.linspace(-2, 1, n),
        "NEE_VUT_REF_QC": np.full(n, 0.9),
        "GPP_NT_VUT_REF": np.linspace(1, 5, n),
        "RECO_NT_VUT_REF": np.linspace(1, 4, n),
        "TA_F": np.linspace(0, 20, n),
    }
    return insitu_write.fluxnet_file(tmp_path, SITE, "MM", 2007, 2008, "1-4", periods, columns)


def test_fluxnet_monthly_file_has_the_structure_of_the_real_sample(fluxnet_mm, samples):
    real_path = fluxnet_sample(samples)
    for path in (real_path, fluxnet_mm):
        assert insitu_layout.oneflux_name(path.name).product == "FLUXNET2015"
    ours, real = pd.read_csv(fluxnet_mm), pd.read_csv(real_path)
    assert list(ours.columns) == list(real.columns) == insitu.fullset_columns()
    for frame in (ours, real):
        assert frame["TIMESTAMP"].astype(str).str.fullmatch(r"\d{6}").all()  # YYYYMM
        assert (frame == insitu.MISSING).any().any()
    assert not fluxnet_mm.read_bytes().endswith(b"\n") and not real_path.read_bytes().endswith(b"\n")


def test_fluxnet_reader_reads_the_written_and_the_real_file_alike(fluxnet_mm, samples):
    frames = [insitu_read.read_fluxnet(path, "NT") for path in (fluxnet_sample(samples), fluxnet_mm)]
    for frame in frames:
        assert list(frame.columns) == ["time", "GPP", "RECO", "NEE", "qc"]
        assert frame.attrs["units"] == insitu.UNITS["MM"] == "gC m-2 d-1" and frame.attrs["resolution"] == "MM"
        assert frame["time"].dt.day.eq(1).all() and frame["GPP"].notna().all()
    assert dict(frames[0].dtypes) == dict(frames[1].dtypes)
    np.testing.assert_allclose(frames[1]["NEE"], np.linspace(-2, 1, 24), atol=1e-5)  # 5 decimals in the file


def test_fluxnet_site_list_reads_back(tmp_path):
    path = insitu_write.site_list(tmp_path, [SITE])
    assert pd.read_csv(path).columns[: len(insitu.SITE_LIST_COLUMNS)].tolist() == list(insitu.SITE_LIST_COLUMNS)
    (site,) = insitu_sites.site_table(tmp_path, [path], ["FR-Pue"]).to_dict("records")
    assert site == {
        **{k: SITE[k] for k in ("site_id", "latitude", "longitude", "elevation", "igbp")},
        "source": str(path),
    }


def test_bif_site_info_reads_back_like_the_site_list(tmp_path):
    other = dict(SITE, site_id="DE-Hai", latitude=51.0792, longitude=10.4522, elevation=np.nan, igbp="DBF")
    path = insitu_write.bif_file(tmp_path / "ICOSETC_FR-Pue_SITEINFO_L2.csv", [SITE, other])
    assert insitu_layout.is_site_list(path.name)
    header = path.read_text().splitlines()[0]
    assert header == "SITE_ID,GROUP_ID,VARIABLE_GROUP,VARIABLE,DATAVALUE"
    table = insitu_sites.site_table(tmp_path, [path], ["DE-Hai", "FR-Pue"])
    assert table["site_id"].tolist() == ["DE-Hai", "FR-Pue"]
    assert table["latitude"].tolist() == [51.0792, 43.7413] and table["igbp"].tolist() == ["DBF", "EBF"]
    assert np.isnan(table["elevation"].iloc[0]) and table["elevation"].iloc[1] == 270.0


@pytest.mark.parametrize(
    ("product", "network", "name"),
    [
        ("FLUXNET2015", "", "FLX_FR-Pue_FLUXNET2015_FULLSET_DD_2007-2008_1-4.csv"),
        ("AmeriFlux FLUXNET", "", "AMF_FR-Pue_FLUXNET_FULLSET_DD_2007-2008_3-5.csv"),
        ("ICOS ETC L2", "", "ICOSETC_FR-Pue_FLUXNET_DD_L2.csv"),
        ("FLUXNET", "ICOSETC", "ICOSETC_FR-Pue_FLUXNET_FLUXMET_DD_2007-2008_v1.3_r1.csv"),
    ],
)
def test_oneflux_products_are_named_as_the_services_name_them(tmp_path, product, network, name):
    version = {"AmeriFlux FLUXNET": "3-5", "FLUXNET": "v1.3_r1"}.get(product, "1-4")
    days = pd.date_range("2007-01-01", "2008-12-31", freq="D")
    columns = {"NEE_VUT_REF": np.full(len(days), -1.0), "GPP_NT_VUT_REF": 3.0, "RECO_NT_VUT_REF": 2.0}
    path = insitu_write.fluxnet_file(tmp_path, SITE, "DD", 2007, 2008, version, days, columns, product, network)
    assert path.name == name
    parsed = insitu_layout.oneflux_name(name)
    assert (parsed.product, parsed.site, parsed.resolution) == (product, "FR-Pue", "DD")
    assert parsed.network == {"FLUXNET2015": "FLUXNET2015"}.get(product, "ICOS" if "ICOS" in name else "AmeriFlux")
    frame = insitu_read.read_fluxnet(path, "NT")
    assert len(frame) == len(days) and (frame["GPP"] == 3.0).all() and frame["qc"].isna().all()


def test_half_hourly_and_weekly_files_have_start_and_end_stamps(tmp_path):
    starts = pd.date_range("2016-01-01", periods=96, freq="30min")
    nee = np.linspace(-5, 5, 96)
    columns = {"NEE_VUT_REF": nee, "NEE_VUT_REF_QC": 0.0, "GPP_DT_VUT_REF": 4.0, "RECO_DT_VUT_REF": 1.0}
    hh = insitu_write.fluxnet_file(tmp_path, SITE, "HH", 2016, 2016, "3-5", starts, columns, "AmeriFlux FLUXNET")
    lines = hh.read_text().splitlines()
    assert lines[0] == "TIMESTAMP_START,TIMESTAMP_END,NEE_VUT_REF,NEE_VUT_REF_QC,GPP_DT_VUT_REF,RECO_DT_VUT_REF"
    assert lines[1].startswith("201601010000,201601010030,-5,0,4,1")
    frame = insitu_read.read_fluxnet(hh, "DT")
    assert frame["time"].tolist() == starts.tolist() and frame.attrs["units"] == "umol CO2 m-2 s-1"
    weeks = pd.date_range("2016-01-01", periods=3, freq="7D")
    ww = insitu_write.fluxnet_file(tmp_path, SITE, "WW", 2016, 2016, "1-4", weeks, {"NEE_VUT_REF": 1.0})
    table = pd.read_csv(ww)
    assert table.columns[:2].tolist() == ["TIMESTAMP_START", "TIMESTAMP_END"]
    assert table["TIMESTAMP_END"].tolist() == [20160107, 20160114, 20160121]
    assert insitu_read.read_fluxnet(ww, "NT")["time"].tolist() == weeks.tolist()


def test_ameriflux_base_file_has_its_comment_lines_and_is_recognised(tmp_path):
    starts = pd.date_range("2016-01-01", periods=4, freq="30min")
    path = insitu_write.ameriflux_base_file(
        tmp_path, "US-Ha1", "HH", "19-5", starts, {"FC": np.array([1.0, np.nan, 2, 3])}
    )
    assert path.name == "AMF_US-Ha1_BASE_HH_19-5.csv"
    lines = path.read_text().splitlines()
    assert lines[:3] == ["# Site: US-Ha1", "# Version: 19-5", "TIMESTAMP_START,TIMESTAMP_END,FC"]
    assert lines[4] == "201601010030,201601010100,-9999"
    found = insitu_layout.survey([path])
    assert found.base == [path] and not found.oneflux


def test_carbonsense_site_has_the_documented_layout_and_reads_back(tmp_path):
    times = pd.Series(pd.date_range("2016-01-01", periods=48, freq="h"))
    targets = {column: np.full(48, 1.5) for column in insitu.TARGET_COLUMNS}
    targets["NEE_VUT_REF"][:5] = np.nan
    folder = insitu_write.carbonsense_site(tmp_path, SITE, times, targets, {"TA_F": np.linspace(0, 1, 48)})
    assert folder.parent.name == "FR-Pue" and insitu.PERIOD.match(folder.name) and folder.name.endswith("2016-01-02")
    assert sorted(p.name for p in folder.iterdir()) == sorted(insitu.CARBONSENSE_FILES)
    meta = json.loads((folder / "meta.json").read_text())
    assert set(insitu.META_KEYS) <= set(meta) and {"LOCATION_ELEV", "IGBP", "SOURCES", "TIME"} <= set(meta)
    assert list(pd.read_csv(folder / "targets.csv").columns) == ["timestamp", *insitu.TARGET_COLUMNS]
    (site,) = insitu_read.site_dirs(tmp_path)
    assert insitu_read.read_meta(site) == SITE
    frame = insitu_read.read_targets(site, "NT")
    assert len(frame) == 48 and frame["NEE"].isna().sum() == 5 and frame.attrs["units"] == "umol CO2 m-2 s-1"
    with pytest.raises(ValueError, match="CarbonSense targets"):
        insitu_write.carbonsense_site(tmp_path / "x", SITE, times, dict(reversed(list(targets.items()))), {})


# ---- CERRA (no real sample: the documented grid and variables) ---------------------------------------------


def test_cerra_grid_facts():
    to_geo = pyproj.Transformer.from_crs(pyproj.CRS.from_proj4(cerra.PROJ4), "EPSG:4326", always_xy=True)
    first = -cerra.CENTRE * cerra.SPACING
    lon, lat = to_geo.transform(first, first)
    assert (lat, lon) == pytest.approx(cerra.FIRST_POINT, abs=1e-3)
    assert cerra.SIZE == 2 * cerra.CENTRE + 1  # the projection's origin is the middle point


@pytest.mark.parametrize("product", cerra.PRODUCTS)
def test_cerra_grib_has_the_documented_grid_and_parameters(product, tmp_path):
    import eccodes

    i0, j0, nx, ny = 600, 500, 5, 4
    to_geo = pyproj.Transformer.from_crs(pyproj.CRS.from_proj4(cerra.PROJ4), "EPSG:4326", always_xy=True)
    lon0, lat0 = to_geo.transform((i0 - cerra.CENTRE) * cerra.SPACING, (j0 - cerra.CENTRE) * cerra.SPACING)
    names = (
        ["2m_temperature", "2m_relative_humidity", "total_cloud_cover"]
        if product == "analysis"
        else ["total_precipitation"]
    )
    variables = cerra.variables(names, "test")
    base = (pd.DatetimeIndex(["2016-01-22 00:00", "2016-01-22 03:00"]) - pd.Timestamp("1970-01-01")) // pd.Timedelta(
        hours=1
    )
    base = np.asarray(base, dtype=np.int64)
    fields = {v.short: np.full((2, ny, nx), 50.0, np.float32) for v in variables}
    accumulation = 3 if product == "forecast" else None
    path = tmp_path / "f.grib"
    cerra_write.grib(path, nx, ny, (lat0, lon0), variables, base, fields, accumulation_hours=accumulation)
    keys = (
        "editionNumber",
        "gridType",
        "shapeOfTheEarth",
        "LaDInDegrees",
        "LoVInDegrees",
        "Latin1InDegrees",
        "Latin2InDegrees",
        "DxInMetres",
        "DyInMetres",
        "iScansNegatively",
        "jScansPositively",
        "paramId",
        "units",
        "cfVarName",
        "stepType",
    )
    with open(path, "rb") as handle:
        messages = []
        while (h := eccodes.codes_grib_new_from_file(handle)) is not None:
            messages.append({k: eccodes.codes_get(h, k) for k in keys})
            eccodes.codes_release(h)
    assert len(messages) == 2 * len(variables)
    for message, var in zip(messages, variables * 2, strict=True):
        assert message["editionNumber"] == 2 and message["gridType"] == "lambert" and message["shapeOfTheEarth"] == 6
        assert (message["LaDInDegrees"], message["LoVInDegrees"]) == (cerra.LAD, cerra.LOV)
        assert message["Latin1InDegrees"] == message["Latin2InDegrees"] == cerra.LATIN
        assert message["DxInMetres"] == message["DyInMetres"] == cerra.SPACING
        assert (message["iScansNegatively"], message["jScansPositively"]) == (0, 1)
        assert (message["paramId"], message["units"], message["cfVarName"]) == (var.param_id, var.units, var.short)
        assert message["stepType"] == ("accum" if product == "forecast" else "instant")
    ds = cerra_read.open_cerra(path)
    assert set(ds.data_vars) == {v.short for v in variables} and ds["latitude"].dims == ("y", "x")
    assert ds[variables[0].short].dims == ("time", "y", "x") and ds.sizes == {"time": 2, "y": ny, "x": nx}
    np.testing.assert_allclose(ds["x"].values, (np.arange(i0, i0 + nx) - cerra.CENTRE) * cerra.SPACING, atol=0.5)
    np.testing.assert_allclose(ds["y"].values, (np.arange(j0, j0 + ny) - cerra.CENTRE) * cerra.SPACING, atol=0.5)
    assert ds.attrs.get("step_hours") == accumulation
    np.testing.assert_allclose(cerra_read.read_values(ds, variables[0].short), 50.0, atol=0.01)


# ---- NOAA VHP (no real sample: the documented file layout) ----------------------------------------------------


def test_vhp_global_grid_facts():
    assert vhp.LAT_TOP - vhp.HEIGHT * vhp.STEP == pytest.approx(-55.152)
    assert vhp.LON_LEFT + vhp.WIDTH * vhp.STEP == pytest.approx(180.0)
    assert re.fullmatch(vhp.NAME, vhp.file_name("j01", 2020, 7)) and vhp.file_name("j01", 2020, 7).endswith(
        "P2020007.VH.nc"
    )


def test_vhp_week_file_has_the_documented_layout_and_reads_back(tmp_path):
    rows, cols = np.arange(100, 104), np.arange(5200, 5206)
    lat = vhp.LAT_TOP - vhp.STEP * (rows + 0.5)
    lon = vhp.LON_LEFT + vhp.STEP * (cols + 0.5)
    vhi = np.linspace(10, 90, 24, dtype=np.float32).reshape(4, 6)
    sea = np.zeros((4, 6), bool)
    sea[0, 0] = True
    path = tmp_path / vhp.file_name("npp", 2016, 30)
    vhp_write.week_file(
        path,
        lat,
        lon,
        {"VCI": vhi + 2, "TCI": vhi - 2, "VHI": vhi},
        sea,
        "npp",
        2016,
        30,
        pd.Timestamp("2016-07-22").date(),
    )
    with netCDF4.Dataset(path) as nc:
        assert list(nc.dimensions) == ["HEIGHT", "WIDTH"] and nc.SATELLITE == "npp" and nc.PERIOD_OF_YEAR == 30
        for name in vhp.VARIABLES:
            assert nc[name].dtype == np.float32 and nc[name].dimensions == ("HEIGHT", "WIDTH")
            assert nc[name].getncattr("_FillValue") == vhp.FILL and list(nc[name].valid_range) == [0, 100]
        assert nc.START_LATITUDE_RANGE == pytest.approx(vhp.LAT_TOP - vhp.STEP * rows[0], abs=1e-4)
        assert nc.START_LONGITUDE_RANGE == pytest.approx(vhp.LON_LEFT + vhp.STEP * cols[0], abs=1e-4)
    ds = vhp_read.open_vhp(path, vhp.VARIABLES)
    np.testing.assert_allclose(ds["latitude"].values, lat, atol=1e-4)
    np.testing.assert_allclose(ds["longitude"].values, lon, atol=1e-4)
    assert np.isnan(ds["VHI"].values[0, 0]) and ds["VHI"].values[3, 5] == pytest.approx(90.0)
