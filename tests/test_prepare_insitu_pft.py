"""prepare_insitu (CarbonSense, FLUXNET2015) and prepare_pft (LCCS cross-walk) on real samples and small files."""

import json
import shutil

import terraflux  # noqa: F401
from terraflux.errors import DataError
from terraflux.outputs import provenance_of
from terraflux.prepare import pft
from terraflux.prepare.insitu import prepare_insitu
from terraflux.sources import land_cover
from terraflux.sources.insitu import SITES_FILE
from terraflux.sources.insitu import write as insitu_write
from terraflux.sources.land_cover import write as land_cover_write

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import xarray as xr
from test_readers import FLUXNET_MM, LCCS_2020, write_carbonsense_site

CELL_LAT = np.array([47.9, 47.7, 47.5])
CELL_LON = np.array([8.1, 8.3, 8.5, 8.7])


def outputs(tmp_path):
    return {
        "sites_path": tmp_path / "sites.parquet",
        "daily_path": tmp_path / "daily.parquet",
        "monthly_path": tmp_path / "monthly.parquet",
    }


def prepare_carbonsense_2016(root, out, min_coverage=0.5):
    """prepare_insitu of the CarbonSense sites under ``root`` on the test grid, 2016, night-time partitioning."""
    period = {"start_year": 2016, "end_year": 2016}
    return prepare_insitu(
        root, fmt="carbonsense", cell_lat=CELL_LAT, cell_lon=CELL_LON, period=period, partitioning="NT",
        min_coverage=min_coverage, **out,
    )  # fmt: skip


def test_fluxnet_monthly_values_equal_the_file(tmp_path, samples):
    root = tmp_path / "fluxnet2015"
    root.mkdir()
    shutil.copy(samples / FLUXNET_MM, root)
    (root / SITES_FILE).write_text(
        "SITE_ID,LOCATION_LAT,LOCATION_LON,LOCATION_ELEV,IGBP\nFR-Pue,43.7413,3.5957,270,EBF\n"
    )
    out = outputs(tmp_path)
    sites = prepare_insitu(
        root,
        fmt="fluxnet2015",
        cell_lat=np.array([44.0, 43.5]),
        cell_lon=np.array([3.5, 4.0]),
        period={"start_year": 2007, "end_year": 2014},
        partitioning="NT",
        min_coverage=0.0,
        provenance={"rule": "t"},
        **out,
    )
    assert sites.iloc[0][["cell_iy", "cell_ix"]].tolist() == [1, 0] and sites.iloc[0]["network"] == "FLUXNET2015"
    monthly = pd.read_parquet(out["monthly_path"])
    raw = pd.read_csv(samples / FLUXNET_MM, na_values=[-9999])
    assert len(monthly) == 96
    np.testing.assert_allclose(monthly["GPP"], raw["GPP_NT_VUT_REF"].astype("float32"))
    np.testing.assert_allclose(monthly["RECO"], raw["RECO_NT_VUT_REF"].astype("float32"))
    np.testing.assert_allclose(monthly["NEE"], raw["NEE_VUT_REF"].astype("float32"))
    meta = pq.read_schema(out["monthly_path"]).metadata
    assert json.loads(meta[b"units"])["GPP"] == "gC m-2 d-1" and provenance_of(out["monthly_path"]) == {"rule": "t"}


def test_carbonsense_daily_monthly_units_and_coverage(tmp_path):
    root = tmp_path / "carbonsense"
    write_carbonsense_site(root, "AA-One", 47.71, 8.29, days=40, nee=2.0, gaps=18)  # day 1: 6 of 24 good hours
    write_carbonsense_site(root, "BB-Far", 10.0, 100.0, days=2)  # outside the grid: left out
    out = outputs(tmp_path)
    sites = prepare_carbonsense_2016(root, out)
    assert sites["site_id"].tolist() == ["AA-One"]
    assert sites.iloc[0][["cell_iy", "cell_ix", "igbp", "network"]].tolist() == [1, 1, "DBF", "ICOS"]
    daily = pd.read_parquet(out["daily_path"])
    assert daily["coverage"].iloc[0] == pytest.approx(0.25) and np.isnan(daily["NEE"].iloc[0])
    # 1 umol CO2 m-2 s-1 = 12.011e-6 gC m-2 s-1 (molar mass of carbon) x 86400 s d-1 = 1.0377 gC m-2 d-1
    assert daily["NEE"].iloc[1] == pytest.approx(2.0755, rel=1e-4)
    assert daily["GPP"].iloc[1] == pytest.approx(4.1510, rel=1e-4)
    monthly = pd.read_parquet(out["monthly_path"])
    jan, feb = monthly.iloc[0], monthly.iloc[1]
    assert jan["coverage"] == pytest.approx((0.25 + 30) / 31) and jan["NEE"] == pytest.approx(2.0755, rel=1e-4)
    assert feb["coverage"] == pytest.approx(9 / 29) and np.isnan(feb["NEE"])  # 9 of 29 days: below the threshold


FR_PUE = {"site_id": "FR-Pue", "latitude": 43.7413, "longitude": 3.5957, "elevation": 270.0, "igbp": "EBF"}


def fluxnet_root(tmp_path, samples, site_list=True):
    """The real FR-Pue MM sample in a folder, with its sites.csv row."""
    root = tmp_path / "fluxnet2015"
    root.mkdir()
    shutil.copy(samples / FLUXNET_MM, root)
    if site_list:
        insitu_write.site_list(root, [dict(FR_PUE, network="FLUXNET2015")])
    return root


def prepare_fluxnet(root, out, years=(2007, 2014), cell_lat=(44.0, 43.5), cell_lon=(3.5, 4.0), partitioning="NT"):
    return prepare_insitu(
        root, fmt="fluxnet2015", cell_lat=np.array(cell_lat), cell_lon=np.array(cell_lon),
        period={"start_year": years[0], "end_year": years[1]}, partitioning=partitioning, min_coverage=0.0, **out,
    )  # fmt: skip


def test_ameriflux_icos_and_fluxnet_products_prepare_alike(tmp_path):
    """Three sites, each in another product and resolution, their coordinates in BIF files and sites.csv."""
    root = tmp_path / "oneflux"
    root.mkdir()
    sites = {
        "US-Ha1": dict(FR_PUE, site_id="US-Ha1", latitude=47.52, longitude=8.29, igbp="DBF", network=""),
        "BE-Bra": dict(FR_PUE, site_id="BE-Bra", latitude=47.71, longitude=8.51, igbp="MF", network=""),
        "DE-Hai": dict(FR_PUE, site_id="DE-Hai", latitude=47.88, longitude=8.69, igbp="DBF", network=""),
    }
    halfhours = pd.date_range("2016-01-01", "2016-01-31 23:30", freq="30min")
    hh = {"NEE_VUT_REF": np.full(len(halfhours), 1.0), "NEE_VUT_REF_QC": 0.0, "GPP_DT_VUT_REF": 2.0}
    hh["RECO_DT_VUT_REF"] = 3.0
    hh["NEE_VUT_REF_QC"] = np.where(np.arange(len(halfhours)) < 24, 3.0, 0.0)  # day 1: half the records poor
    insitu_write.fluxnet_file(root, sites["US-Ha1"], "HH", 2016, 2016, "3-5", halfhours, hh, "AmeriFlux FLUXNET")
    days = pd.date_range("2016-01-01", "2016-02-29", freq="D")
    dd = {"NEE_VUT_REF": -1.5, "NEE_VUT_REF_QC": 0.8, "GPP_DT_VUT_REF": 4.0, "RECO_DT_VUT_REF": 2.5}
    insitu_write.fluxnet_file(root, sites["BE-Bra"], "DD", 2016, 2016, "", days, dd, "ICOS ETC L2")
    months = pd.period_range("2016-01", "2016-12", freq="M")
    mm = {"NEE_VUT_REF": np.linspace(-2, 2, 12), "NEE_VUT_REF_QC": 0.9, "GPP_DT_VUT_REF": 5.0, "RECO_DT_VUT_REF": 3.0}
    insitu_write.fluxnet_file(root, sites["DE-Hai"], "MM", 2016, 2016, "v1.3_r1", months, mm, "FLUXNET", "EUF")
    insitu_write.bif_file(root / "ICOSETC_BE-Bra_SITEINFO_L2.csv", [sites["BE-Bra"]])
    insitu_write.bif_file(root / "EUF_DE-Hai_FLUXNET_BIF_2016-2016_v1.3_r1.csv", [sites["DE-Hai"]])
    insitu_write.site_list(root, [sites["US-Ha1"]])
    out = outputs(tmp_path)
    table = prepare_insitu(
        root, fmt="fluxnet2015", cell_lat=CELL_LAT, cell_lon=CELL_LON, period={"start_year": 2016, "end_year": 2016},
        partitioning="DT", min_coverage=0.5, **out,
    )  # fmt: skip
    assert table["site_id"].tolist() == ["BE-Bra", "DE-Hai", "US-Ha1"]
    assert table["network"].tolist() == ["ICOS", "EUF", "AmeriFlux"] and table["igbp"].tolist() == ["MF", "DBF", "DBF"]
    assert table[["cell_iy", "cell_ix"]].to_numpy().tolist() == [[1, 2], [0, 3], [2, 1]]
    daily = pd.read_parquet(out["daily_path"]).set_index(["site_id", "time"])
    us = daily.loc["US-Ha1"]
    assert len(us) == 31 and us["coverage"].iloc[0] == pytest.approx(0.5) and us["coverage"].iloc[1] == 1.0
    assert us["RECO"].iloc[1] == pytest.approx(3 * 1.037750, rel=1e-5)  # umol CO2 m-2 s-1 -> gC m-2 d-1
    assert daily.loc["BE-Bra"]["GPP"].eq(4.0).all() and daily.loc["BE-Bra"]["coverage"].eq(np.float32(0.8)).all()
    monthly = pd.read_parquet(out["monthly_path"]).set_index(["site_id", "time"])
    np.testing.assert_allclose(monthly.loc["DE-Hai"]["NEE"], np.linspace(-2, 2, 12).astype("float32"), atol=1e-5)
    assert monthly.loc["BE-Bra"]["NEE"].eq(-1.5).all() and len(monthly.loc["BE-Bra"]) == 2
    assert monthly.loc["US-Ha1"]["coverage"].iloc[0] == pytest.approx((0.5 + 30) / 31)


def test_no_site_list_says_which_file_to_add(tmp_path, samples):
    root = fluxnet_root(tmp_path, samples, site_list=False)
    with pytest.raises(DataError, match=r"no site list; .* add sites\.csv there with the header "
                       r"SITE_ID,LOCATION_LAT,LOCATION_LONG,LOCATION_ELEV,IGBP"):  # fmt: skip
        prepare_fluxnet(root, outputs(tmp_path))
    assert not any(tmp_path.glob("*.parquet"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SITE_ID,LOCATION_LAT,LOCATION_LONG\nDE-Hai,51.08,10.45\n", r"no row for site\(s\) FR-Pue; add them"),
        ("SITE_ID,LAT,LON\nFR-Pue,43.7,3.6\n", r"lacks the column\(s\) \['LOCATION_LAT', 'LOCATION_LONG'\]"),
        ("SITE_ID,LOCATION_LAT,LOCATION_LON,LOCATION_ELEV\nFR-Pue,43.7,3.6,270 m\n",
         r"line 2, column LOCATION_ELEV holds '270 m', not a number"),
        ("SITE_ID,LOCATION_LAT,LOCATION_LONG\nFR-Pue,,3.6\n", r"line 2, column LOCATION_LAT is empty"),
        ("SITE_ID,LOCATION_LAT,LOCATION_LONG\nFR-Pue,3.6,143.7\nFR-Pue,43.7,3.6\n", r"two different rows"),
        ("SITE_ID,LOCATION_LAT,LOCATION_LONG\nFR-Pue,93.7,3.6\n", r"line 2, column LOCATION_LAT holds 93.7, outside"),
        ("SITE_ID,LOCATION_LAT,LOCATION_LONG\nFR-Pue,43.7,3.6\n,,\n", r"line 3 holds no value"),
    ],
)  # fmt: skip
def test_a_bad_site_list_names_the_file_line_and_column(tmp_path, samples, text, message):
    root = fluxnet_root(tmp_path, samples, site_list=False)
    (root / SITES_FILE).write_text(text)
    with pytest.raises(DataError, match=message):
        prepare_fluxnet(root, outputs(tmp_path))
    assert not any(tmp_path.glob("*.parquet"))


def test_sites_off_the_grid_name_the_sites_and_the_region_keys(tmp_path, samples):
    root = fluxnet_root(tmp_path, samples)
    with pytest.raises(DataError, match=r"none of the 1 in-situ sites lies on the model grid \(latitude 47.5..47.9, "
                       r"longitude 8.1..8.7, from config 'region'\): FR-Pue \(43.74 N, 3.596 E\)\. "
                       r"Widen 'region.north', 'region.south', 'region.west', 'region.east'"):  # fmt: skip
        prepare_fluxnet(root, outputs(tmp_path), cell_lat=CELL_LAT, cell_lon=CELL_LON)
    assert not any(tmp_path.glob("*.parquet"))


def test_a_grid_on_0_to_360_longitudes_finds_sites_west_of_greenwich(tmp_path, samples):
    root = fluxnet_root(tmp_path, samples)
    insitu_write.site_list(root, [dict(FR_PUE, longitude=-3.5957, network="x")])
    sites = prepare_fluxnet(root, outputs(tmp_path), cell_lon=(356.0, 356.5))
    assert sites.iloc[0][["cell_ix", "cell_longitude"]].tolist() == [1, 356.5]


def test_site_years_outside_the_period_name_the_years_and_the_period_keys(tmp_path, samples):
    root = fluxnet_root(tmp_path, samples)
    with pytest.raises(DataError, match=r"no in-situ site on the grid has records in the period 2016..2019 \(config "
                       r"'period.start_year', 'period.end_year'\); their years: FR-Pue 2007-2014"):  # fmt: skip
        prepare_fluxnet(root, outputs(tmp_path), years=(2016, 2019))
    assert not any(tmp_path.glob("*.parquet"))


def test_a_site_without_records_in_the_period_is_named_in_a_warning(tmp_path, caplog):
    root = tmp_path / "carbonsense"
    write_carbonsense_site(root, "AA-One", 47.71, 8.29, days=3)
    period = write_carbonsense_site(root, "BB-Old", 47.52, 8.51, days=3)
    targets = period / "targets.csv"
    targets.write_text(targets.read_text().replace("2016-", "2015-"))
    out = outputs(tmp_path)
    sites = prepare_carbonsense_2016(root, out)
    assert sites["site_id"].tolist() == ["AA-One", "BB-Old"]
    assert set(pd.read_parquet(out["monthly_path"])["site_id"]) == {"AA-One"}
    assert "sites without records in 2016..2016 (they stay in the site table): BB-Old 2015-2015" in caplog.text


def test_missing_site_folder_content_is_a_clear_error(tmp_path):
    root = tmp_path / "carbonsense"
    folder = write_carbonsense_site(root)
    (folder / "targets.csv").write_text("")
    with pytest.raises(DataError, match=r"targets\.csv: the site file is empty"):
        prepare_carbonsense_2016(root, outputs(tmp_path))
    assert not (tmp_path / "sites.parquet").exists()


def test_crosswalk_rows_sum_to_100_and_match_the_source_examples():
    table = pft.crosswalk()
    np.testing.assert_allclose(table.sum(axis=1), 100.0)
    assert table.loc[50, "TREES-BE"] == 90 and table.loc[50, ["SHRUBS-BE", "SHRUBS-BD"]].tolist() == [5, 5]
    assert table.loc[70, "TREES-NE"] == 70 and table.loc[70, "GRASS-NAT"] == 15
    assert table.loc[10, "GRASS-MAN"] == 100 and table.loc[210, "WATER"] == 100
    assert set(pft.groups().values()) == {"BL", "NL", "GS", "other", "water"}


def lccs_zip(path, classes, north=48.0, west=8.0):
    """The CDS land-cover zip of 2016 with the given class map (1/360 degree pixels from north, west)."""
    ny, nx = classes.shape
    area = [north, west, north - ny / 360, west + nx / 360]
    land_cover_write.lccs_zip(
        path,
        2016,
        area,
        path.parent,
        lat=north - (np.arange(ny) + 0.5) / 360,
        lon=west + (np.arange(nx) + 0.5) / 360,
        classes=classes,
        observation_count=np.ones(classes.shape, np.uint16),
        tracking_id="test",
        creation_date="20170518T101540Z",
    )
    return path


def test_pft_fractions_match_the_crosswalk(tmp_path):
    # one 0.2 degree cell = 72 x 72 pixels: left half class 50 (BE trees), right half: 70 (NE trees) / 210 (water)
    classes = np.full((72, 72), 50, np.uint8)
    classes[:, 36:] = 70
    classes[36:, 36:] = 210
    path = lccs_zip(tmp_path / "lccs.zip", classes)
    out = tmp_path / "pft.zarr"
    pft.prepare_pft(
        {2016: path}, out_path=out, cell_lat=np.array([47.9]), cell_lon=np.array([8.1]), cell_size=0.2, product="lccs"
    )
    ds = xr.open_zarr(out)
    frac = ds["fraction"].sel(year=2016).values[:, 0, 0]
    land = 0.75
    expected_bl = 0.5 * 0.90 / land
    expected_nl = 0.25 * 0.70 / land
    expected_gs = (0.5 * 0.10 + 0.25 * 0.30) / land
    np.testing.assert_allclose(frac, [expected_bl, expected_nl, expected_gs, 0.0], rtol=1e-6)
    assert frac.sum() == pytest.approx(1.0)
    assert ds["land_fraction"].values[0, 0, 0] == pytest.approx(land)
    assert ds["pft14"].sel(esa_pft="WATER").values[0, 0, 0] == pytest.approx(0.25)
    assert ds.rio.crs.to_epsg() == 4326


def test_pft_on_the_real_sample_is_all_water(tmp_path, samples):
    out = tmp_path / "pft.zarr"
    pft.prepare_pft(
        {2020: samples / LCCS_2020},
        out_path=out,
        cell_lat=np.array([59.9, 59.8]),
        cell_lon=np.array([0.05, 0.15]),
        cell_size=0.1,
        product="lccs",
    )
    ds = xr.open_zarr(out)
    pft14 = ds["pft14"].values
    assert ((pft14 >= 0) & (pft14 <= 1)).all()
    np.testing.assert_allclose(pft14.sum(axis=1), 1.0)
    np.testing.assert_allclose(ds["pft14"].sel(esa_pft="WATER").values, 1.0)  # class 210 everywhere
    assert np.isnan(ds["fraction"].values).all()  # no land


# --- the ESA CCI PFT product: a global file, read only in the region ---------------------------------------------

#: The product's global grid (1/360 degree): pixel centres of the 129600 columns, and rows of a band around 48 N.
PFT_LON = -180.0 + (np.arange(129600) + 0.5) / 360
PFT_ROW0 = round((90.0 - 48.25) * 360)  # the band's first row in the global grid (48.25 N)
PFT_LAT = 90.0 - (PFT_ROW0 + np.arange(180) + 0.5) / 360  # 48.25 .. 47.75 N


def pft_percentages(region_cols: slice):
    """Per PFT variable a uint8 [180, 129600] band: 100 % bare outside ``region_cols``; inside, broadleaf evergreen
    trees on a row- and column-dependent share, the rest natural grass (generated one variable at a time)."""
    rows = np.arange(len(PFT_LAT))[:, None]
    cols = np.arange(region_cols.stop - region_cols.start)[None, :]
    trees = ((rows + 3 * cols) % 101).astype(np.uint8)
    for name in land_cover.PFT_VARIABLES:
        band = np.zeros((len(PFT_LAT), len(PFT_LON)), np.uint8)
        if name == "BARE":
            band[:] = 100
            band[:, region_cols] = 0
        elif name == "TREES-BE":
            band[:, region_cols] = trees
        elif name == "GRASS-NAT":
            band[:, region_cols] = 100 - trees
        yield name, band


def test_pft_product_is_read_only_in_the_region_in_bounded_memory(tmp_path):
    import tracemalloc

    cell_lat, cell_lon, size = np.array([48.1, 47.9]), np.array([8.1, 8.3]), 0.2
    region_cols = slice(round((8.0 + 180.0) * 360), round((8.4 + 180.0) * 360))  # 8.0 .. 8.4 E
    path = tmp_path / land_cover.raw_path("pft", 2016).rsplit("/", 1)[1]
    land_cover_write.pft_netcdf(path, 2016, PFT_LAT, PFT_LON, pft_percentages(region_cols))
    out = tmp_path / "pft.zarr"
    tracemalloc.start()
    pft.prepare_pft({2016: path}, out_path=out, cell_lat=cell_lat, cell_lon=cell_lon, cell_size=size, product="pft")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    one_global_row = len(land_cover.PFT_VARIABLES) * len(PFT_LON) * 8  # the 14 variables of one row, as float64
    assert peak < one_global_row, f"peak {peak / 1e6:.1f} MB"
    # expected shares straight from the written percentages: 72 x 72 pixels per 0.2 degree cell
    trees = next(band for name, band in pft_percentages(region_cols) if name == "TREES-BE")[:, region_cols]
    trees = trees[18:162].astype(float).reshape(2, 72, 2, 72).mean(axis=(1, 3)) / 100  # rows 48.2 .. 47.8 N
    ds = xr.open_zarr(out)
    np.testing.assert_allclose(ds["pft14"].sel(year=2016, esa_pft="TREES-BE").values, trees, rtol=1e-6)  # float32 store
    np.testing.assert_allclose(ds["pft14"].sel(year=2016, esa_pft="GRASS-NAT").values, 1 - trees, rtol=1e-6)
    assert (ds["pft14"].sel(year=2016, esa_pft="BARE").values == 0).all()
    np.testing.assert_allclose(ds["fraction"].sel(year=2016, pft="BL").values, trees, rtol=1e-6)
    np.testing.assert_allclose(ds["land_fraction"].values, 1.0)
