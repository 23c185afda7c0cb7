"""``python -m terraflux check``: files in the services' formats (written with the sources' writers, and the real
samples) pass with a summary of what they hold; bad files get the message the prepare job stops with and a
non-zero exit status."""

import shutil
import subprocess
import sys
from pathlib import Path

import terraflux  # noqa: F401
from terraflux.check import describe, main, run
from terraflux.sources import cerra, era5_land, land_cover, vhp
from terraflux.sources.cerra import write as cerra_write
from terraflux.sources.era5_land import write as era5_write
from terraflux.sources.insitu import write as insitu_write
from terraflux.sources.land_cover import write as land_cover_write
from terraflux.sources.vhp import write as vhp_write

import netCDF4
import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import cds_files  # noqa: E402

NY, NX = 6, 8
CONFIG = """\
run: {name: check, origin: download}
region: {name: test, north: 48.0, west: 8.0, south: 47.5, east: 8.7}
period: {start_year: 2016, end_year: 2016, train_years: [2016], val_years: [], test_years: []}
sources: {era5_land: {variables: [2m_temperature, total_precipitation]}}
"""
REGION_TEXT = "config `region` (47.5..48 N, 8..8.7 E)"
KELVIN = 273.15
FLUXNET_MM = "FLX_FR-Pue_FLUXNET2015_FULLSET_MM_2007-2014_2-3.csv"
FR_PUE = {"site_id": "FR-Pue", "latitude": 43.7413, "longitude": 3.5957, "elevation": 270.0, "igbp": "EBF"}


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    return path


def checked(capsys, *args) -> tuple[int, list[str]]:
    """Exit status and output lines of the command line."""
    status = main([str(a) for a in args])
    return status, capsys.readouterr().out.splitlines()


def block(lines: list[str], path) -> list[str]:
    """The lines of one file's report (its first line and the indented ones after it)."""
    start = next(i for i, line in enumerate(lines) if line.split(": ", 1)[1].startswith(str(path)))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("    ")), len(lines))
    return lines[start:end]


# --- ERA5-Land ------------------------------------------------------------------------------------------------


def era5_month(folder: Path, month: int, nx: int = NX, edit=None, name=None) -> Path:
    """One month of hourly ERA5-Land (t2m, tp) in the new CDS NetCDF layout, written with the source's writer."""
    times = cds_files.month_times(2016, month)
    lat, lon = cds_files.grid(NY, nx)
    fields = []
    for short in ("t2m", "tp"):
        values = cds_files.file_values(short, times, NY, nx)
        fields.append((era5_land.BY_SHORT[short], edit(short, values) if edit else values))
    path = folder / (name or era5_land.raw_path("hourly", 2016, month).rsplit("/", 1)[1])
    path.parent.mkdir(parents=True, exist_ok=True)
    seconds = np.asarray((times - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1))
    era5_write.netcdf(
        path, lat, lon, seconds, [era5_land.FINAL] * len(times), fields, era5_write.delivery_time(2016, 1)
    )
    return path


def test_good_era5_land_months_pass_with_their_summary(tmp_path, config, capsys):
    folder = tmp_path / "era5_land"
    january, february = era5_month(folder, 1), era5_month(folder, 2)
    (folder / ".era5-land_2016-03.nc.tmp-4242").write_text("a killed job's temporary")  # left out: hidden
    status, lines = checked(capsys, "era5_land", folder, "--configfile", config)
    assert status == 0
    land = int((~cds_files.sea(NY, NX)).sum())
    assert block(lines, january)[0] == f"ok: {january}"
    assert block(lines, january)[1:] == [
        "    format: NetCDF4",
        block(lines, january)[2],
        "    time: 2016-01-01 00:00 .. 2016-01-31 23:00, 744 steps of 1 h (final data); month 2016-01",
        "    grid: latitude 6 points 48..47.5, longitude 8 points 8..8.7; spacing 0.1 degrees, cropped to "
        + REGION_TEXT,
        f"    land: {land} of {NY * NX} points have data (the land mask)",
    ]
    variables = block(lines, january)[2]
    assert variables.startswith("    variables: t2m (K) 2") and "; tp (m) " in variables
    low, high = (float(v) for v in variables.split("t2m (K) ")[1].split(";")[0].split(" .. "))
    assert 250 < low < high < 300
    assert block(lines, february)[0] == f"ok: {february}"
    assert lines[-2].startswith("note: config `period` (2016..2016): 10 of 12 months have no file")
    assert lines[-1] == "era5_land: 2 checked, 2 ok, 0 with an error"


def test_without_config_the_file_is_not_cropped_nor_held_to_a_month(tmp_path, capsys):
    """No config file: no region, no variable list, no complete month needed (a few hours pass)."""
    path = cds_files.write_month(
        tmp_path / "a.nc", 2016, 7, ("t2m",), NY, NX, times=pd.date_range("2016-07-03", periods=5, freq="h")
    )
    status, lines = checked(capsys, "era5_land", path)
    assert status == 0
    assert lines[3] == "    time: 2016-07-03 00:00 .. 2016-07-03 04:00, 5 steps of 1 h (final data); month 2016-07"
    assert lines[4] == "    grid: latitude 6 points 48..47.5, longitude 8 points 8..8.7; spacing 0.1 degrees"


def truncated_grib(path: Path, cut: int = 40) -> Path:
    """An ERA5-Land GRIB1 day (the source's writer) with its last ``cut`` bytes cut off (inside its last message)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lat, lon = np.round(48.0 - 0.1 * np.arange(3), 1), np.round(8.0 + 0.1 * np.arange(4), 1)
    hours = (pd.Timestamp("2016-01-01") - pd.Timestamp("1970-01-01")) // pd.Timedelta(hours=1) + np.arange(1, 25)
    t2m = np.full((24, 3, 4), 275.0, np.float32)
    era5_write.grib(path, lat, lon, hours, [(era5_land.BY_SHORT["t2m"], t2m)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - cut])
    return path


def test_padded_grib_and_the_zip_of_step_types_pass(tmp_path, capsys):
    """The other layouts the CDS delivers: GRIB1 with zeros after the last message, and the zip of one NetCDF per
    step type (instantaneous and accumulated fields)."""
    grib = truncated_grib(tmp_path / "grib" / "era5-land_2016-01.nc", cut=0)
    grib.write_bytes(grib.read_bytes() + bytes(120))
    times = cds_files.month_times(2016, 1)
    lat, lon = cds_files.grid(NY, NX)
    fields = [(era5_land.BY_SHORT[n], cds_files.file_values(n, times, NY, NX)) for n in ("t2m", "tp")]
    hours = np.asarray((times - pd.Timestamp("1970-01-01")) // pd.Timedelta(hours=1))
    zipped = tmp_path / "zip" / "era5-land_2016-01.nc"
    zipped.parent.mkdir()
    era5_write.hourly_month(zipped, lat, lon, hours, [era5_land.FINAL] * len(times), fields,
                            era5_write.delivery_time(2016, 1), data_format="netcdf", as_zip=True)  # fmt: skip
    status, lines = checked(capsys, "era5_land", grib)  # checked apart: each on its own grid
    assert status == 0
    assert lines[1:4] == [
        "    format: GRIB edition 1",
        "    variables: t2m (K) 275 .. 275",
        "    time: 2016-01-01 01:00 .. 2016-01-02 00:00, 24 steps of 1 h (final data); month 2016-01",
    ]
    status, lines = checked(capsys, "era5_land", zipped)
    assert status == 0
    members = "data_stream-oper_stepType-instant.nc, data_stream-oper_stepType-accum.nc"
    assert lines[1] == f"    format: zip holding {members}"


def test_bad_era5_land_files_get_the_jobs_message_and_a_nonzero_exit(tmp_path, config, capsys):
    """A truncated GRIB, temperatures in degC labelled K, an HTML page saved as .nc and a month on another grid
    each get the message prepare_era5_land stops with; the good month passes."""
    folder = tmp_path / "raw"
    good = era5_month(folder, 1)
    degc = era5_month(folder, 6, edit=lambda name, v: v - KELVIN if name == "t2m" else v)
    other_grid = era5_month(folder, 2, nx=NX - 2)
    html = folder / "era5-land_2016-03.nc"
    html.write_text("<!DOCTYPE html><html><body>Your request is queued</body></html>")
    grib = truncated_grib(folder / "era5-land_2016-04.nc")
    status, lines = checked(capsys, "era5_land", folder, "--configfile", config)
    assert status == 1
    errors = {line.split(": ", 2)[1]: line for line in lines if line.startswith("error: ")}
    assert block(lines, good)[0] == f"ok: {good}"
    assert (
        errors[str(degc)].startswith(f"error: {degc}: t2m ranges from ")
        and "outside its plausible range 160 .. 350 K" in errors[str(degc)]
    )
    assert (
        f"its grid (latitude 6 points 48..47.5, longitude 6 points 8..8.5) is not the grid of {good}"
        in (errors[str(other_grid)])
    )
    assert errors[str(html)] == (
        f"error: {html}: unknown format (first bytes b'<!DOCTYP'); expected zip, NetCDF or GRIB. Delete the file "
        "and rerun its download"
    )
    assert (
        errors[str(grib)].startswith(f"error: {grib}: the GRIB message after byte ")
        and "is incomplete" in (errors[str(grib)])
    )
    assert lines[-1] == "era5_land: 5 checked, 1 ok, 4 with an error"


def test_a_configured_variable_missing_is_named(tmp_path, config, capsys):
    path = cds_files.write_month(tmp_path / "era5-land_2016-01.nc", 2016, 1, ("t2m",), NY, NX)
    status, lines = checked(capsys, "era5_land", path, "--configfile", config)
    assert status == 1
    assert lines[0].startswith(f"error: {path}: variable(s) ['tp'] missing (found ['t2m'])")


def test_the_real_era5_land_samples_over_sea_are_refused_as_the_job_refuses_them(samples, capsys):
    """The real CDS samples hold sea points only (every value NaN): prepare_era5_land stops on them, so does the
    check, with the same message."""
    status, lines = checked(capsys, "era5_land", samples / "era5_land")
    assert status == 1
    assert [line.split(": ", 2)[2][:35] for line in lines[:2]] == [
        "t2m has no value at all (every poin",
        "d2m has no value at all (every poin",
    ]


def test_the_scan_reads_blocks_and_finds_what_a_whole_read_finds(monkeypatch):
    values = np.random.default_rng(1).normal(size=(7, 3, 4)).astype(np.float32)
    values[2, 1, 1] = np.nan
    whole = describe.scan(lambda time: values[time], 7, (3, 4))
    reads = []
    monkeypatch.setattr(describe, "BLOCK_VALUES", 24)  # two steps a block
    blocks = describe.scan(lambda time: reads.append(time) or values[time], 7, (3, 4))
    assert len(reads) == 4 and all(r.stop - r.start <= 2 for r in reads)
    for found in (whole, blocks):
        assert (found.low, found.high) == (float(np.nanmin(values)), float(np.nanmax(values)))
        np.testing.assert_array_equal(found.first, values[0])
        np.testing.assert_array_equal(found.last, values[-1])
        np.testing.assert_array_equal(found.everywhere, np.isfinite(values).all(axis=0))
        assert found.present == values.size - 1


# --- CERRA ----------------------------------------------------------------------------------------------------


def cerra_month(folder: Path, month: int, nx: int = 5) -> Path:
    """A CERRA analysis month (t2m at 12-hourly times on nx x 4 Lambert points), written with the source's writer."""
    variables = cerra.variables(["2m_temperature"], "test")
    start = pd.Timestamp(2016, month, 1)
    times = pd.date_range(start, start + pd.offsets.MonthEnd(0) + pd.Timedelta(hours=12), freq="12h")
    base = (times - pd.Timestamp("1970-01-01")) // pd.Timedelta(hours=1)
    fields = {"t2m": 280.0 + np.zeros((len(times), 4, nx), np.float32)}
    path = folder / cerra.raw_path("analysis", 2016, month).rsplit("/", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    cerra_write.grib(path, nx, 4, (47.0, 7.0), variables, np.asarray(base), fields, accumulation_hours=None)
    return path


def test_cerra_months_pass_and_one_on_another_grid_or_cut_is_named(tmp_path, capsys):
    folder = tmp_path / "cerra"
    good, other, cut = cerra_month(folder, 1), cerra_month(folder, 2, nx=6), cerra_month(folder, 3)
    cut.write_bytes(cut.read_bytes()[:-100])
    status, lines = checked(capsys, "cerra", folder)
    assert status == 1
    assert block(lines, good) == [
        f"ok: {good}",
        "    format: GRIB edition 2",
        "    product: analysis",
        "    variables: t2m (K) 280 .. 280",
        "    time: 2016-01-01 00:00 .. 2016-01-31 12:00, 62 steps of 12 h; month 2016-01",
        block(lines, good)[5],
        block(lines, good)[6],
        "    land: 20 of 20 points have data in every step (the land mask)",
    ]
    assert block(lines, good)[5].startswith("    grid: x 5 points ") and block(lines, good)[5].endswith(
        "; spacing 5500 m (Lambert conformal)"
    )
    assert block(lines, good)[6].startswith("    covers: latitude 47..")
    assert any(
        line.startswith(f"error: {other}: its grid (x 6 points") and f"is not the grid of {good}" in line
        for line in lines
    )
    assert any(line.startswith(f"error: {cut}: the GRIB message after byte ") for line in lines)


# --- NOAA VHP -------------------------------------------------------------------------------------------------


def vhp_week(path: Path, valid: bool = True) -> Path:
    """A VHP week over 47.5..48 N, 8..8.7 E (the global grid's pixels there), written with the source's writer;
    ``valid`` False: every pixel at the fill value (a snow-covered week)."""
    rows = np.arange(int((vhp.LAT_TOP - 48.0) / vhp.STEP), int((vhp.LAT_TOP - 47.5) / vhp.STEP) + 1)
    cols = np.arange(int((8.0 - vhp.LON_LEFT) / vhp.STEP), int((8.7 - vhp.LON_LEFT) / vhp.STEP) + 1)
    lat, lon = vhp.LAT_TOP - vhp.STEP * (rows + 0.5), vhp.LON_LEFT + vhp.STEP * (cols + 0.5)
    vhi = np.linspace(10, 90, lat.size * lon.size, dtype=np.float32).reshape(lat.size, lon.size)
    vhi = vhi if valid else np.full(vhi.shape, vhp.FILL, np.float32)
    indices = {"VCI": vhi, "TCI": vhi, "VHI": vhi}
    sea = np.zeros(vhi.shape, bool)
    vhp_write.week_file(path, lat, lon, indices, sea, "npp", 2016, 30, pd.Timestamp("2016-07-22"))
    return path


def test_vhp_weeks_pass_and_a_file_without_vhi_is_named(tmp_path, config, capsys):
    folder = tmp_path / "vhp"
    folder.mkdir()
    good = vhp_week(folder / vhp.file_name("npp", 2016, 30))
    snowy = vhp_week(folder / vhp.file_name("npp", 2016, 2), valid=False)
    no_vhi = vhp_week(folder / vhp.file_name("npp", 2016, 31))
    with netCDF4.Dataset(no_vhi, "a") as nc:
        nc.renameVariable("VHI", "NDVI")
    status, lines = checked(capsys, "vhp", folder, "--configfile", config)
    assert status == 1
    assert block(lines, good) == [
        f"ok: {good}",
        "    format: NetCDF4",
        "    week: 2016-W30, satellite npp",
        "    variables: VHI 10 .. 90; 300 of 300 pixels valid",
        "    grid: latitude 15 points 48.006..47.502, longitude 20 points 8.01..8.694; spacing 0.036 degrees",
        f"    region: VHI at 48 of 48 ERA5-Land points of {REGION_TEXT}",
    ]
    assert block(lines, snowy)[0] == f"ok: {snowy}" and block(lines, snowy)[-1] == (
        f"    note: {snowy}: no valid VHI pixel on the grid (all fill values); the week stays NaN (valid = False)"
    )
    assert f"error: {no_vhi}: lacks ['VHI']; it is not a NOAA VHP VH file. Rerun its download" in lines
    assert any(line.startswith("note: config `period` (2016..2016): 49 of 52 weeks have no file") for line in lines)


# --- land cover -----------------------------------------------------------------------------------------------


def lccs_zip(path: Path, north=48.0, west=8.0, ny=180, nx=252) -> Path:
    """The CDS land-cover zip of 2016 (class 10, cropland) over ny x nx pixels from (north, west)."""
    area = [north, west, north - ny / 360, west + nx / 360]
    land_cover_write.lccs_zip(
        path, 2016, area, path.parent, lat=north - (np.arange(ny) + 0.5) / 360, lon=west + (np.arange(nx) + 0.5) / 360,
        classes=np.full((ny, nx), 10, np.uint8), observation_count=np.ones((ny, nx), np.uint16),
        tracking_id="test", creation_date="20170518T101540Z",
    )  # fmt: skip
    return path


def test_land_cover_on_the_region_passes_and_the_real_sample_elsewhere_is_named(tmp_path, config, samples, capsys):
    good = lccs_zip(tmp_path / land_cover.raw_path("lccs", 2016).rsplit("/", 1)[1])
    sample = samples / "esa_cci_lc" / "land-cover_LCCS_MAP_300m_2020.zip"
    status, lines = checked(capsys, "land_cover", good, sample)
    assert status == 0  # without config: both are readable maps
    assert block(lines, sample) == [
        f"ok: {sample}",
        "    format: zip holding C3S-LC-L4-LCCS-Map-300m-P1Y-2020-v2.1.1.area-subset.60.0.50.10.nc",
        "    variables: lccs_class (uint8)",
        "    grid: latitude 100 points 59.9986..59.7236, longitude 100 points 0.00138889..0.276389; spacing "
        "0.0027778 degrees",
    ]
    status, lines = checked(capsys, "land_cover", good, sample, "--configfile", config)
    assert status == 1
    assert block(lines, good)[-1] == (
        f"    region: 180 x 252 pixels on the 3 x 4 cells of the model grid of {REGION_TEXT} (pixel values not read)"
    )
    assert (
        f"error: {sample}: no land-cover pixel falls on the model grid; check config `region` and the file's area"
        in (lines)
    )


def test_pft_product_file_passes(tmp_path, config, capsys):
    lat, lon = 48.0 - (np.arange(36) + 0.5) / 360, 8.0 + (np.arange(72) + 0.5) / 360
    path = tmp_path / land_cover.raw_path("pft", 2016).rsplit("/", 1)[1]
    percent = [
        (name, np.full((36, 72), 100 if name == "GRASS-NAT" else 0, np.uint8)) for name in land_cover.PFT_VARIABLES
    ]
    land_cover_write.pft_netcdf(path, 2016, lat, lon, percent)
    status, lines = checked(capsys, "pft", tmp_path, "--configfile", config)
    assert status == 0
    assert lines[2] == "    variables: " + ", ".join(f"{name} (uint8)" for name in land_cover.PFT_VARIABLES)


# --- in-situ --------------------------------------------------------------------------------------------------


def test_fluxnet_folder_with_its_site_list_passes_and_without_it_is_named(tmp_path, samples, capsys):
    root = tmp_path / "fluxnet"
    root.mkdir()
    shutil.copy(samples / "fluxnet2015" / FLUXNET_MM, root)
    sites = insitu_write.site_list(root, [dict(FR_PUE, network="FLUXNET2015")])
    status, lines = checked(capsys, "insitu", root)
    assert status == 0
    assert block(lines, root / FLUXNET_MM) == [
        f"ok: {root / FLUXNET_MM}",
        "    layout: FLUXNET2015 ONEFlux file of site FR-Pue, monthly (MM), network FLUXNET2015",
        "    records: 2007-01 .. 2014-12, 96 rows, years 2007-2014",
        "    fluxes: GPP_NT_VUT_REF, RECO_NT_VUT_REF, NEE_VUT_REF in gC m-2 d-1; NEE in 96 rows",
    ]
    assert block(lines, sites) == [f"ok: {sites}", "    site list: 1 site: FR-Pue (43.7413 N, 3.5957 E, 270 m, EBF)"]
    assert lines[-4:] == [
        f"ok: {root}",
        "    format: ONEFlux site files (fluxnet2015) of FLUXNET2015",
        "    sites: 1 site: FR-Pue (43.7413 N, 3.5957 E, 270 m, EBF)",
        "insitu: 3 checked, 3 ok, 0 with an error",
    ]
    sites.unlink()
    status, lines = checked(capsys, "insitu", root)
    assert status == 1
    assert f"error: {root}: no site list; ONEFlux files carry no coordinates: add sites.csv there" in "\n".join(lines)


def test_the_real_fluxnet_sample_folder_lacks_a_site_list(samples, capsys):
    status, lines = checked(capsys, "insitu", samples / "fluxnet2015")
    assert status == 1
    assert any(line.startswith(f"error: {(samples / 'fluxnet2015').resolve()}: no site list;") for line in lines)


def test_sites_off_the_config_region_are_named_with_the_region_keys(tmp_path, samples, config, capsys):
    root = tmp_path / "fluxnet"
    root.mkdir()
    shutil.copy(samples / "fluxnet2015" / FLUXNET_MM, root)
    insitu_write.site_list(root, [dict(FR_PUE, network="FLUXNET2015")])
    fluxnet = tmp_path / "fluxnet.yaml"
    fluxnet.write_text("sources: {insitu: {format: fluxnet2015}}\n")  # merged on top of the first config file
    status, lines = checked(capsys, "insitu", root, "--configfile", config, fluxnet)
    assert status == 1
    assert lines[-3:-1] == [
        f"error: {root}: none of the 1 in-situ sites lies on the model grid (latitude 47.55..47.95, longitude "
        "8.05..8.65, from config 'region'): FR-Pue (43.74 N, 3.596 E). Widen 'region.north', 'region.south', "
        "'region.west', 'region.east' to include them, or use sites inside the region",
        "    note: sites outside the model grid, left out: FR-Pue",
    ]


def carbonsense_site(root: Path, lat=47.7, lon=8.3, days=3) -> Path:
    times = pd.Series(pd.date_range("2016-05-01", periods=24 * days, freq="h"))
    flux = np.full(len(times), 2.0)
    targets = {"NEE_VUT_REF": -flux, "GPP_DT_VUT_REF": flux, "GPP_NT_VUT_REF": flux, "RECO_DT_VUT_REF": flux / 2,
               "RECO_NT_VUT_REF": flux / 2}  # fmt: skip
    site = {"site_id": "CH-Tst", "latitude": lat, "longitude": lon, "elevation": 500.0, "igbp": "GRA",
            "network": "ICOS"}  # fmt: skip
    return insitu_write.carbonsense_site(root, site, times, targets, {"TA_F": np.zeros(len(times))})


def test_carbonsense_folder_on_the_region_passes(tmp_path, config, capsys):
    root = tmp_path / "carbonsense"
    carbonsense_site(root)
    status, lines = checked(capsys, "insitu", root, "--configfile", config)
    assert status == 0
    assert block(lines, root / "CH-Tst") == [
        f"ok: {root / 'CH-Tst'}",
        "    layout: CarbonSense v1 site CH-Tst, network ICOS",
        "    site: CH-Tst (47.7 N, 8.3 E, 500 m, GRA)",
        "    records: daily values: 2016-05-01 .. 2016-05-03, 3 rows, years 2016-2016",
    ]
    assert lines[-6:-1] == [
        f"ok: {root}",
        "    format: CarbonSense v1 site folders (carbonsense)",
        "    sites: 1 site: CH-Tst (47.7 N, 8.3 E, 500 m, GRA)",
        f"    model grid: 1 of 1 sites on the model grid of {REGION_TEXT}",
        "    period: 1 monthly values in config `period` (2016..2016)",
    ]


# --- the command line -----------------------------------------------------------------------------------------


def test_the_command_runs_as_a_module_and_exits_non_zero_on_an_error(tmp_path, config):
    folder = tmp_path / "vhp"
    folder.mkdir()
    vhp_week(folder / vhp.file_name("npp", 2016, 30))
    command = [sys.executable, "-m", "terraflux", "check", "vhp", str(folder), "--configfile", str(config)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "vhp: 1 checked, 1 ok, 0 with an error"
    (folder / vhp.file_name("npp", 2016, 31)).write_bytes(b"")
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert f"error: {folder / vhp.file_name('npp', 2016, 31)}: the file is empty" in done.stdout


def test_a_config_mistake_names_the_key_and_an_empty_folder_is_an_error(tmp_path, config, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("region: {north: 46.0, south: 48.0}\n")
    status, lines = checked(capsys, "vhp", tmp_path, "--configfile", bad)
    assert status == 1
    assert lines == [
        "error: 'region.north' (46.0) is not north of 'region.south' (48.0): north must be the larger latitude."
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    status, lines = checked(capsys, "cerra", empty)
    assert status == 1
    assert lines[0] == f"error: {empty}: holds no cerra file (no name ending in .grib, .grb, .grib2, .grb2)"


def test_run_returns_the_reports(tmp_path):
    path = era5_month(tmp_path, 1)
    result = run("era5_land", [path])
    assert [report.ok for report in result.reports] == [True]
    assert dict(result.reports[0].facts)["format"] == "NetCDF4"
