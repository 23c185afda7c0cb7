"""Raw-format readers on the real samples and on every bad-input case."""

import shutil
import sys
import zipfile
from pathlib import Path

import terraflux  # noqa: F401
from terraflux.errors import DataError
from terraflux.sources import insitu, land_cover
from terraflux.sources.era5_land import STEP_TYPE_MEMBER
from terraflux.sources.era5_land import read as era5_land
from terraflux.sources.formats.sniff import sniff
from terraflux.sources.insitu import read as insitu_read
from terraflux.sources.insitu import write as insitu_write
from terraflux.sources.land_cover import read as land_cover_read

import netCDF4
import numpy as np
import pandas as pd
import pytest

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
        DataError, match=rf"{empty.name}: the file lacks the flux column\(s\) \['GPP_NT_VUT_REF', 'RECO_NT_VUT_REF'\]"
    ):
        insitu_read.read_fluxnet(empty, "NT")


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
