"""Raw-format readers on the real samples and on every bad-input case."""

import shutil
import sys
import zipfile
from pathlib import Path

import terraflux  # noqa: F401
from terraflux.errors import DataError
from terraflux.sources import cerra, insitu, land_cover, vhp
from terraflux.sources import era5_land as era5_land_facts
from terraflux.sources.cerra import read as cerra_read
from terraflux.sources.cerra import write as cerra_write
from terraflux.sources.era5_land import STEP_TYPE_MEMBER
from terraflux.sources.era5_land import read as era5_land
from terraflux.sources.era5_land import write as era5_write
from terraflux.sources.formats.grib import check_grib_complete
from terraflux.sources.formats.grib import messages as grib_messages
from terraflux.sources.formats.sniff import sniff
from terraflux.sources.insitu import read as insitu_read
from terraflux.sources.insitu import write as insitu_write
from terraflux.sources.land_cover import read as land_cover_read
from terraflux.sources.vhp import read as vhp_read
from terraflux.sources.vhp import write as vhp_write

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import cds_files  # noqa: E402

FLUXNET_MM = "fluxnet2015/" + insitu.fluxnet_file_name("FR-Pue", "MM", 2007, 2014, "2-3")
FLUXNET_YY = "fluxnet2015/" + insitu.fluxnet_file_name("FR-Pue", "YY", 2007, 2014, "2-3")
LCCS_2020 = "esa_cci_lc/" + Path(land_cover.raw_path("lccs", 2020)).name


def era5_land_samples(samples) -> list[Path]:
    """The real ERA5-Land samples: 2 m temperature, then 2 m dewpoint temperature."""
    return [next((samples / "era5_land").glob(f"*_{kind}_temperature_*.nc")) for kind in ("air", "dewpoint")]


def one_day(tmp_path, name="f.nc", **kwargs):
    times = pd.date_range("2016-01-01", periods=24, freq="h")
    return cds_files.write_month(tmp_path / name, 2016, 1, times=times, **kwargs), times


# --- format detection ---------------------------------------------------------------------------------


def test_sniff_detects_every_format(tmp_path, samples):
    assert sniff(era5_land_samples(samples)[0]) == "netcdf4"
    assert sniff(samples / LCCS_2020) == "zip"
    path, _ = one_day(tmp_path, layout="netcdf3")
    assert sniff(path) == "netcdf3"
    (tmp_path / "g.grib").write_bytes(b"GRIB\x00\x00\x01")
    assert sniff(tmp_path / "g.grib") == "grib"
    (tmp_path / "page.nc").write_text("<html>quota exceeded</html>")
    with pytest.raises(DataError, match=r"page\.nc: unknown format"):
        sniff(tmp_path / "page.nc")
    (tmp_path / "empty.nc").write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.nc: the file is empty"):
        sniff(tmp_path / "empty.nc")


# --- ERA5-Land ----------------------------------------------------------------------------------------


def test_real_sample_values_and_time_axis_are_exact(samples):
    paths = era5_land_samples(samples)
    with era5_land.open_hourly(paths, ["2m_temperature", "2m_dewpoint_temperature"]) as ds:
        assert ds["t2m"].dims == ("time", "latitude", "longitude")
        assert ds["t2m"].dtype == np.float32 and ds["d2m"].dtype == np.float32
        assert list(pd.DatetimeIndex(ds["time"].values)) == list(pd.date_range("2020-01-01", periods=4, freq="h"))
        assert list(ds["expver"].values) == ["0001"] * 4
        for name, path in zip(("t2m", "d2m"), paths, strict=True):
            with netCDF4.Dataset(path) as nc:
                raw = np.asarray(nc[name][:], dtype=np.float32)
            np.testing.assert_array_equal(ds[name].values, raw)
        assert (np.diff(ds["latitude"].values) < 0).all()


def test_old_cds_netcdf3_packed_matches_the_values(tmp_path):
    path, times = one_day(tmp_path, layout="netcdf3", variables=("t2m", "tp"))
    with era5_land.open_hourly(path, ["t2m", "tp"]) as ds:
        assert ds["t2m"].dtype == np.float32
        truth = cds_files.file_values("t2m", times, 6, 8)
        np.testing.assert_allclose(ds["t2m"].values, truth, atol=0.01)
        assert list(pd.DatetimeIndex(ds["time"].values)) == list(times)


def test_zip_of_step_type_files_is_merged(tmp_path):
    instant, times = one_day(tmp_path, STEP_TYPE_MEMBER.format(step_type="instant"), variables=("t2m",))
    accum, _ = one_day(tmp_path, STEP_TYPE_MEMBER.format(step_type="accum"), variables=("tp",))
    bundle = tmp_path / "month.nc"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.write(instant, instant.name)
        archive.write(accum, accum.name)
    assert sniff(bundle) == "zip"
    with era5_land.open_hourly(bundle, ["t2m", "total_precipitation"]) as ds:
        np.testing.assert_array_equal(ds["tp"].values, cds_files.file_values("tp", times, 6, 8))


def test_truncated_netcdf_names_the_file(tmp_path):
    path, _ = one_day(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=rf"{path.name}.*truncated or corrupt"):
        with era5_land.open_hourly(path, ["t2m"]) as ds:
            ds["t2m"].load()


def test_variable_missing_in_one_file_names_it(tmp_path):
    path, _ = one_day(tmp_path, variables=("t2m",))
    with pytest.raises(DataError, match=r"f\.nc.*\['tp'\] missing"):
        with era5_land.open_hourly(path, ["t2m", "tp"]):
            pass


def test_flipped_latitude_is_turned_to_descending(tmp_path):
    path, times = one_day(tmp_path, variables=("t2m",))
    with netCDF4.Dataset(path, "a") as nc:
        nc["latitude"][:] = nc["latitude"][::-1]
        nc["t2m"][:] = nc["t2m"][:, ::-1, :]
    with era5_land.open_hourly(path, ["t2m"]) as ds:
        assert (np.diff(ds["latitude"].values) < 0).all()
        np.testing.assert_array_equal(ds["t2m"].values, cds_files.file_values("t2m", times, 6, 8))


def test_wrong_units_attribute_names_the_file(tmp_path):
    path, _ = one_day(tmp_path, variables=("t2m",))
    with netCDF4.Dataset(path, "a") as nc:
        nc["t2m"].units = "degC"
    with pytest.raises(DataError, match=r"f\.nc: variable t2m has units 'degC', expected 'k'"):
        with era5_land.open_hourly(path, ["t2m"]):
            pass


def test_duplicated_times_are_an_error(tmp_path):
    times = pd.DatetimeIndex(
        list(pd.date_range("2016-01-01", periods=3, freq="h")) + [pd.Timestamp("2016-01-01 01:00")]
    )
    path = cds_files.write_month(tmp_path / "dup.nc", 2016, 1, times=times, variables=("t2m",))
    with pytest.raises(DataError, match=r"dup\.nc: duplicated time 2016-01-01 01:00"):
        with era5_land.open_hourly(path, ["t2m"]):
            pass


def test_era5t_mixed_with_final_keeps_final(tmp_path):
    base = pd.date_range("2016-01-01", periods=4, freq="h")
    times = pd.DatetimeIndex(list(base) + [base[1], base[2]])
    codes = ["0001", "0001", "0005", "0005", "0005", "0001"]
    path = cds_files.write_month(tmp_path / "mixed.nc", 2016, 1, times=times, variables=("t2m",), expver=codes)
    with netCDF4.Dataset(path, "a") as nc:  # mark the preliminary copy of 01:00 so we can see which one is kept
        nc["t2m"][4] = nc["t2m"][4] + 100
    with era5_land.open_hourly(path, ["t2m"]) as ds:
        assert list(pd.DatetimeIndex(ds["time"].values)) == list(base)
        assert list(ds["expver"].values) == ["0001", "0001", "0001", "0005"]
        assert ds.attrs["era5t_replaced_hours"] == 2
        assert ds.attrs["era5t_hours"] == 1
        np.testing.assert_array_equal(ds["t2m"].values, cds_files.file_values("t2m", base, 6, 8))


# --- in situ ------------------------------------------------------------------------------------------


def test_fluxnet_monthly_sample_values(samples):
    frame = insitu_read.read_fluxnet(samples / FLUXNET_MM, "NT")
    raw = pd.read_csv(samples / FLUXNET_MM, na_values=[-9999])
    assert len(frame) == 96 and frame["time"].iloc[0] == pd.Timestamp("2007-01-01")
    np.testing.assert_array_equal(frame["GPP"].to_numpy(), raw["GPP_NT_VUT_REF"].to_numpy())
    np.testing.assert_array_equal(frame["NEE"].to_numpy(), raw["NEE_VUT_REF"].to_numpy())
    assert frame.attrs["units"] == "gC m-2 d-1"


def test_fluxnet_yearly_file_with_cr_line_endings_parses(samples):
    assert (
        b"\r" in (samples / FLUXNET_YY).read_bytes()[:5000] and b"\n" not in (samples / FLUXNET_YY).read_bytes()[:5000]
    )
    frame = insitu_read.read_fluxnet(samples / FLUXNET_YY, "NT")
    assert list(frame["time"].dt.year) == list(range(2007, 2015))
    assert frame.attrs["resolution"] == "YY"


def test_empty_header_only_and_fluxless_site_files_name_the_file(tmp_path, samples):
    empty = tmp_path / Path(FLUXNET_MM).name
    empty.write_text("")
    with pytest.raises(DataError, match=rf"{empty.name}: the site file is empty"):
        insitu_read.read_fluxnet(empty, "NT")
    header = (samples / FLUXNET_MM).read_text().splitlines()[0]
    empty.write_text(header + "\n")
    with pytest.raises(DataError, match=rf"{empty.name}: the site file has a header but no data rows"):
        insitu_read.read_fluxnet(empty, "NT")
    frame = pd.read_csv(samples / FLUXNET_MM).drop(columns=["GPP_NT_VUT_REF", "RECO_NT_VUT_REF"])
    frame.to_csv(empty, index=False)
    with pytest.raises(
        DataError, match=rf"{empty.name}: the file lacks the column\(s\) \['GPP_NT_VUT_REF', 'RECO_NT_VUT_REF'\]"
    ):
        insitu_read.read_fluxnet(empty, "NT")


def edited_sample(samples, tmp_path, row: int, column: str, value: str) -> Path:
    """A copy of the real FLUXNET2015 MM sample with one cell (data row ``row``, 0-based) replaced."""
    lines = (samples / FLUXNET_MM).read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[1 + row].split(",")
    cells[header.index(column)] = value
    lines[1 + row] = ",".join(cells)
    path = tmp_path / Path(FLUXNET_MM).name
    path.write_text("\n".join(lines))
    return path


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        (
            "GPP_NT_VUT_REF",
            "n/a",
            r"line 5, column GPP_NT_VUT_REF holds 'n/a', not a number \(a missing value is -9999",
        ),
        ("NEE_VUT_REF", "NaN", r"line 5, column NEE_VUT_REF holds 'NaN', not a number"),
        ("NEE_VUT_REF_QC", "", r"line 5, column NEE_VUT_REF_QC holds '', not a number"),
        ("TIMESTAMP", "2007-04", r"line 5, column TIMESTAMP holds '2007-04', not a time of the form YYYYMM"),
        ("TIMESTAMP", "2007041", r"line 5, column TIMESTAMP holds '2007041', not a time of the form YYYYMM"),
    ],
)
def test_a_bad_cell_names_the_file_line_and_column(samples, tmp_path, column, value, message):
    path = edited_sample(samples, tmp_path, 3, column, value)
    with pytest.raises(DataError, match=rf"{path.name}: {message}"):
        insitu_read.read_fluxnet(path, "NT")


def test_the_documented_missing_code_is_a_gap(samples, tmp_path):
    path = edited_sample(samples, tmp_path, 3, "GPP_NT_VUT_REF", "-9999.0")
    frame = insitu_read.read_fluxnet(path, "NT")
    assert np.isnan(frame["GPP"].iloc[3]) and frame["GPP"].drop(index=3).notna().all()


def test_a_trailing_row_of_commas_names_its_line(samples, tmp_path):
    text = (samples / FLUXNET_MM).read_text()
    path = tmp_path / Path(FLUXNET_MM).name
    path.write_text(text + "\n" + "," * text.splitlines()[0].count(",") + "\n")
    with pytest.raises(DataError, match=rf"{path.name}: line 98 holds no value in TIMESTAMP, .* delete that line"):
        insitu_read.read_fluxnet(path, "NT")


def test_a_file_name_of_no_product_names_the_accepted_names(tmp_path):
    path = tmp_path / "US-Ha1_daily.csv"
    path.write_text("TIMESTAMP,NEE_VUT_REF\n20160101,1\n")
    with pytest.raises(DataError, match=r"US-Ha1_daily.csv: not the name of a ONEFlux site file; accepted: .*AMF_"):
        insitu_read.read_fluxnet(path, "NT")


def write_carbonsense_site(root, site="XX-Abc", lat=47.0, lon=9.0, days=3, nee=1.0, gaps=0):
    """One CarbonSense site period of ``days`` hourly records from 2016-01-01: NEE and RECO ``nee``, GPP twice
    that, the first ``gaps`` NEE records missing; returns the period folder."""
    meta = {"site_id": site, "latitude": lat, "longitude": lon, "elevation": 500.0, "igbp": "DBF", "network": "ICOS"}
    times = pd.Series(pd.date_range("2016-01-01", periods=24 * days, freq="h"))
    targets = {c: np.full(len(times), nee * (2.0 if c.startswith("GPP") else 1.0)) for c in insitu.TARGET_COLUMNS}
    targets["NEE_VUT_REF"][:gaps] = np.nan
    return insitu_write.carbonsense_site(root, meta, times, targets, {})


def test_carbonsense_site_meta_and_targets(tmp_path):
    period = write_carbonsense_site(tmp_path)
    (site,) = insitu_read.site_dirs(tmp_path)
    meta = insitu_read.read_meta(site)
    assert meta == {
        "site_id": "XX-Abc",
        "latitude": 47.0,
        "longitude": 9.0,
        "elevation": 500.0,
        "igbp": "DBF",
        "network": "ICOS",
    }
    frame = insitu_read.read_targets(site, "NT")
    assert len(frame) == 72 and frame["GPP"].iloc[0] == 2.0
    (period / "targets.csv").write_text("timestamp,NEE_VUT_REF\n")
    with pytest.raises(DataError, match=r"targets\.csv: the site file has a header but no data rows"):
        insitu_read.read_targets(site, "NT")


def test_carbonsense_bad_cells_and_meta_values_name_the_file(tmp_path):
    period = write_carbonsense_site(tmp_path, gaps=2)
    (site,) = insitu_read.site_dirs(tmp_path)
    assert insitu_read.read_targets(site, "NT")["NEE"].isna().sum() == 2  # empty fields are gaps
    targets = period / "targets.csv"
    good = targets.read_text()
    targets.write_text(good.replace("2016-01-01 05:00:00,1", "2016-01-01 05:00:00,n/a", 1))
    with pytest.raises(DataError, match=r"targets\.csv: line 7, column NEE_VUT_REF holds 'n/a', not a number"):
        insitu_read.read_targets(site, "NT")
    targets.write_text(good.replace("2016-01-01 05:00:00", "2016-01-01 5h", 1))
    with pytest.raises(DataError, match=r"line 7, column timestamp holds '2016-01-01 5h', not a time of the form"):
        insitu_read.read_targets(site, "NT")
    meta = period / "meta.json"
    meta.write_text(meta.read_text().replace('"LOCATION_ELEV": 500.0', '"LOCATION_ELEV": "500 m"'))
    with pytest.raises(DataError, match=r"meta\.json: LOCATION_ELEV is '500 m', not a number"):
        insitu_read.read_meta(site)


# --- land cover ---------------------------------------------------------------------------------------


def test_land_cover_sample_zip(samples):
    with land_cover_read.open_lccs(samples / LCCS_2020) as lccs:
        assert lccs.dims == ("latitude", "longitude") and lccs.dtype == np.uint8
        assert lccs.shape == (100, 100)
        assert (np.diff(lccs["latitude"].values) < 0).all()
        assert set(np.unique(lccs.values)) <= set(land_cover.FLAG_VALUES.tolist())


def test_corrupt_land_cover_zip_names_the_file(tmp_path, samples):
    bad = tmp_path / "corrupt.zip"
    shutil.copy(samples / LCCS_2020, bad)
    bad.write_bytes(bad.read_bytes()[:2000])
    with pytest.raises(DataError, match=bad.name):
        with land_cover_read.open_lccs(bad) as lccs:
            lccs.load()


def write_era5_grib(path, day, ny=3, nx=4):
    """GRIB1 as the CDS delivers ERA5-Land: t2m each hour (step 0), tp accumulated from 00 UTC (steps 1..24)."""
    import eccodes

    with open(path, "wb") as out:
        for hour in range(24):
            for short, param in (("2t", 167), ("tp", 228)):
                h = eccodes.codes_grib_new_from_samples("regular_ll_sfc_grib1")
                for key, value in (
                    ("Ni", nx),
                    ("Nj", ny),
                    ("latitudeOfFirstGridPointInDegrees", 48.0),
                    ("latitudeOfLastGridPointInDegrees", 48.0 - 0.1 * (ny - 1)),
                    ("longitudeOfFirstGridPointInDegrees", 8.0),
                    ("longitudeOfLastGridPointInDegrees", 8.0 + 0.1 * (nx - 1)),
                    ("iDirectionIncrementInDegrees", 0.1),
                    ("jDirectionIncrementInDegrees", 0.1),
                    ("paramId", param),
                    ("dataDate", int(day.strftime("%Y%m%d"))),
                ):
                    eccodes.codes_set(h, key, value)
                if short == "2t":
                    eccodes.codes_set(h, "dataTime", hour * 100)
                else:
                    eccodes.codes_set(h, "dataTime", 0)
                    eccodes.codes_set(h, "stepType", "accum")
                    eccodes.codes_set(h, "startStep", 0)
                    eccodes.codes_set(h, "endStep", hour + 1)
                eccodes.codes_set_values(h, np.full(ny * nx, 270.0 + hour if short == "2t" else 0.001 * (hour + 1)))
                eccodes.codes_write(h, out)
                eccodes.codes_release(h)
    return path


def test_grib_variant_is_unstacked_to_valid_times(tmp_path):
    path = write_era5_grib(tmp_path / "month.nc", pd.Timestamp("2016-01-01"))  # a NetCDF name, GRIB inside
    assert sniff(path) == "grib"
    with era5_land.open_hourly(path, ["t2m", "tp"]) as ds:
        times = pd.DatetimeIndex(ds["time"].values)
        assert (
            times[0] == pd.Timestamp("2016-01-01 00:00")
            and times[-1] == pd.Timestamp("2016-01-02 00:00")
            and len(times) == 25
        )
        np.testing.assert_allclose(ds["t2m"].values[:3, 0, 0], [270, 271, 272])
        assert np.isnan(ds["tp"].values[0, 0, 0])  # no accumulation ends at the first 00 UTC in this file
        np.testing.assert_allclose(ds["tp"].values[1:3, 0, 0], [0.001, 0.002], rtol=1e-6)
        assert ds["tp"].values[-1, 0, 0] == pytest.approx(0.024, rel=1e-5)  # 00 UTC next day: the whole day
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match="file is truncated"):
        with era5_land.open_hourly(path, ["t2m"]):
            pass


# --- GRIB as the CDS delivers it: padding after the last message, cut messages --------------------------------


def era5_land_grib(path, hours=24):
    """ERA5-Land GRIB1 written with the source writer: t2m and tp (accumulated from 00 UTC) over the first ``hours``
    hours of 2016-01-01 on 3 x 4 points."""
    lat, lon = np.round(48.0 - 0.1 * np.arange(3), 1), np.round(8.0 + 0.1 * np.arange(4), 1)
    valid = (pd.Timestamp("2016-01-01") - pd.Timestamp("1970-01-01")) // pd.Timedelta(hours=1) + np.arange(1, hours + 1)
    t2m = 270.0 + np.arange(hours, dtype=np.float32)[:, None, None] + np.zeros((1, 3, 4), np.float32)
    tp = np.cumsum(np.full((hours, 3, 4), 1e-4, np.float32), axis=0)
    era5_write.grib(
        path, lat, lon, valid, [(era5_land_facts.BY_SHORT["t2m"], t2m), (era5_land_facts.BY_SHORT["tp"], tp)]
    )
    return path


def cerra_grib(path, steps=4):
    """CERRA GRIB2 analysis file written with the source writer: t2m at ``steps`` 3-hourly times on 5 x 4 points."""
    variables = cerra.variables(["2m_temperature"], "test")
    base = (pd.date_range("2016-01-01", periods=steps, freq="3h") - pd.Timestamp("1970-01-01")) // pd.Timedelta(hours=1)
    fields = {"t2m": 280.0 + np.arange(steps, dtype=np.float32)[:, None, None] + np.zeros((1, 4, 5), np.float32)}
    cerra_write.grib(path, 5, 4, (47.0, 7.0), variables, np.asarray(base), fields, accumulation_hours=None)
    return path


def first_message_length(path) -> int:
    import eccodes

    with open(path, "rb") as handle:
        walk = grib_messages(handle, path)  # the handle lives while the walk is not closed
        length = int(eccodes.codes_get(next(walk), "totalLength"))
        walk.close()
        return length


def grib_values(path) -> dict:
    if path.name.startswith("era5"):
        with era5_land.open_hourly(path, ["t2m", "tp"]) as ds:
            return {name: ds[name].values for name in ("t2m", "tp")}
    return {"t2m": cerra_read.read_values(cerra_read.open_cerra(path), "t2m")}


PADDING = {
    "zeros to a multiple of 120 bytes": lambda size: b"\0" * (-size % 120 or 120),
    "other bytes": lambda size: b"\n\0\0 trailing bytes without a message \0",
}


@pytest.mark.parametrize("padding", PADDING)
def test_padded_grib1_era5_land_and_grib2_cerra_read_like_the_unpadded_files(tmp_path, padding):
    for write in (era5_land_grib, cerra_grib):
        plain = write(tmp_path / f"{write.__name__}.grib")
        padded = tmp_path / f"{write.__name__}_padded.grib"
        data = plain.read_bytes()
        padded.write_bytes(data + PADDING[padding](len(data)))
        assert check_grib_complete(padded) == check_grib_complete(plain) > 0
        expected = grib_values(plain)
        for name, values in grib_values(padded).items():
            np.testing.assert_array_equal(values, expected[name])


def test_grib_cut_inside_its_last_message_is_refused_as_truncated(tmp_path):
    for write in (era5_land_grib, cerra_grib):
        path = write(tmp_path / f"{write.__name__}.grib")
        data = path.read_bytes()
        path.write_bytes(data[: len(data) - first_message_length(path) // 2])
        with pytest.raises(DataError, match=rf"{path.name}: the GRIB message after byte \d+ is incomplete.*truncated"):
            grib_values(path)


def test_grib_with_a_second_cut_message_after_the_padding_is_refused(tmp_path):
    for write in (era5_land_grib, cerra_grib):
        path = write(tmp_path / f"{write.__name__}.grib")
        data = path.read_bytes()
        complete = len(data)
        cut = data[: first_message_length(path) - 20]  # the start of one more message, cut short
        path.write_bytes(data + b"\0" * (-complete % 120) + cut)
        with pytest.raises(DataError, match=rf"{path.name}: the GRIB message after byte {complete} is incomplete"):
            grib_values(path)


# --- files of a single time step ---------------------------------------------------------------------------


def test_files_of_a_single_time_step_read_with_a_time_dimension(tmp_path):
    hour = pd.Timestamp("2016-01-01 01:00")
    grib = era5_land_grib(tmp_path / "era5_one.grib", hours=1)  # cfgrib squeezes time and step to scalars
    with era5_land.open_hourly(grib, ["t2m", "tp"]) as ds:
        assert dict(ds.sizes) == {"time": 1, "latitude": 3, "longitude": 4}
        assert list(pd.DatetimeIndex(ds["time"].values)) == [hour]
        np.testing.assert_allclose(ds["t2m"].values, 270.0, atol=0.01)
        np.testing.assert_allclose(ds["tp"].values, 1e-4, rtol=1e-3)
    netcdf, times = one_day(tmp_path, "one.nc", variables=("t2m",))
    single = cds_files.write_month(tmp_path / "single.nc", 2016, 1, times=times[:1], variables=("t2m",))
    squeezed = tmp_path / "squeezed.nc"  # the same step with its time coordinate a scalar (no time dimension)
    with xr.open_dataset(single, engine="netcdf4") as ds:
        ds.isel(valid_time=0).to_netcdf(squeezed, engine="netcdf4")
    for path in (single, squeezed):
        with era5_land.open_hourly(path, ["t2m"]) as ds:
            assert ds["t2m"].dims == ("time", "latitude", "longitude") and ds.sizes["time"] == 1
            assert pd.Timestamp(ds["time"].values[0]) == times[0] and list(ds["expver"].values) == ["0001"]
            np.testing.assert_array_equal(ds["t2m"].values, cds_files.file_values("t2m", times[:1], 6, 8))
    lat, lon = np.round(48.0 - 0.1 * np.arange(3), 1), np.round(8.0 + 0.1 * np.arange(4), 1)
    day = np.array([(pd.Timestamp("2016-01-01") - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)])
    t2m = (era5_land_facts.BY_SHORT["t2m"], np.full((1, 3, 4), 275.0, np.float32))
    era5_write.daily_zip(
        tmp_path / "daily.zip",
        lat,
        lon,
        day,
        ["0001"],
        [t2m],
        "daily_mean",
        era5_write.delivery_time(2016, 1),
        tmp_path,
    )
    with era5_land.open_daily(tmp_path / "daily.zip", ["t2m"]) as ds:
        assert ds.sizes["time"] == 1 and float(ds["t2m"].values[0, 0, 0]) == 275.0
    cerra = cerra_read.open_cerra(cerra_grib(tmp_path / "cerra_one.grib", steps=1))
    assert cerra["t2m"].dims == ("time", "y", "x") and cerra.sizes["time"] == 1
    np.testing.assert_allclose(cerra_read.read_values(cerra, "t2m"), 280.0, atol=0.01)


def test_netcdf_without_any_time_coordinate_names_the_file(tmp_path):
    single = cds_files.write_month(tmp_path / "single.nc", 2016, 1, times=pd.date_range("2016-01-01", periods=1))
    with xr.open_dataset(single, engine="netcdf4") as ds:
        ds.isel(valid_time=0).drop_vars(["valid_time", "expver"]).to_netcdf(tmp_path / "timeless.nc", engine="netcdf4")
    with pytest.raises(DataError, match=r"timeless\.nc: no time coordinate \(valid_time or time\)"):
        with era5_land.open_hourly(tmp_path / "timeless.nc", ["t2m"]):
            pass


# --- NOAA VHP: both namings of the grid's edges, newer files' latitude/longitude fields ---------------------


def vhp_week(path):
    """A VHP week file written with the source writer (first version: START_/END_*_RANGE attributes)."""
    rows, cols = np.arange(100, 104), np.arange(5200, 5206)
    lat, lon = vhp.LAT_TOP - vhp.STEP * (rows + 0.5), vhp.LON_LEFT + vhp.STEP * (cols + 0.5)
    vhi = np.linspace(10, 90, 24, dtype=np.float32).reshape(4, 6)
    indices = {"VCI": vhi, "TCI": vhi, "VHI": vhi}
    vhp_write.week_file(path, lat, lon, indices, np.zeros((4, 6), bool), "npp", 2016, 30, pd.Timestamp("2016-07-22"))
    return path, lat, lon


def as_newer_version(path, fields=True, attributes=True):
    """Turn a file of the first version into the newer layout: geospatial_* attributes instead of START_/END_*
    (VHP user guide v2.0), optionally latitude/longitude fields on HEIGHT/WIDTH named in the variables'
    ``coordinates``."""
    with netCDF4.Dataset(path, "a") as nc:
        north, south = nc.START_LATITUDE_RANGE, nc.END_LATITUDE_RANGE
        west, east = nc.START_LONGITUDE_RANGE, nc.END_LONGITUDE_RANGE
        for name in ("START_LATITUDE_RANGE", "END_LATITUDE_RANGE", "START_LONGITUDE_RANGE", "END_LONGITUDE_RANGE"):
            nc.delncattr(name)
        if attributes:
            nc.setncatts(
                {"geospatial_lat_max": north, "geospatial_lat_min": south, "geospatial_lon_min": west,
                 "geospatial_lon_max": east}
            )  # fmt: skip
        if fields:
            ny, nx = len(nc.dimensions["HEIGHT"]), len(nc.dimensions["WIDTH"])
            nc.createVariable("latitude", "f4", ("HEIGHT",))[:] = north - (north - south) / ny * (np.arange(ny) + 0.5)
            nc.createVariable("longitude", "f4", ("WIDTH",))[:] = west + (east - west) / nx * (np.arange(nx) + 0.5)
            for name in vhp.VARIABLES:
                nc[name].coordinates = "latitude longitude"


@pytest.mark.parametrize(
    "fields, attributes", [(False, True), (True, True), (True, False)], ids=["attributes", "both", "fields"]
)
def test_vhp_newer_files_read_like_the_first_version(tmp_path, fields, attributes):
    first, lat, lon = vhp_week(tmp_path / "first.nc")
    newer, _, _ = vhp_week(tmp_path / "newer.nc")
    as_newer_version(newer, fields=fields, attributes=attributes)
    reference, ds = vhp_read.open_vhp(first), vhp_read.open_vhp(newer)
    np.testing.assert_allclose(ds["latitude"].values, lat, atol=1e-4)
    np.testing.assert_allclose(ds["longitude"].values, lon, atol=1e-4)
    np.testing.assert_allclose(ds["longitude"].values, reference["longitude"].values, atol=1e-4)
    np.testing.assert_array_equal(ds["VHI"].values, reference["VHI"].values)


def test_vhp_file_without_grid_edges_or_vhi_names_it(tmp_path):
    path, _, _ = vhp_week(tmp_path / "no_edges.nc")
    as_newer_version(path, fields=False, attributes=False)
    with pytest.raises(
        DataError, match=r"no_edges\.nc: the global attributes START_LATITUDE_RANGE.*geospatial_lat_max"
    ):
        vhp_read.open_vhp(path)
    path, _, _ = vhp_week(tmp_path / "no_vhi.nc")
    with netCDF4.Dataset(path, "a") as nc:
        nc.renameVariable("VHI", "NDVI")
    with pytest.raises(DataError, match=r"no_vhi\.nc: lacks \['VHI'\]; it is not a NOAA VHP VH file"):
        vhp_read.open_vhp(path)
