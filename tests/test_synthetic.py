"""The synthetic world: files that read through the project readers, coherence of its ground truth,
reproducibility (the files' layouts against the real samples: tests/test_source_writers.py)."""

import hashlib
import zipfile
from pathlib import Path

import terraflux  # noqa: F401  (native libraries in a safe order)
from terraflux.config import validate
from terraflux.errors import ConfigError
from terraflux.sources import cerra, vhp
from terraflux.sources import era5_land as era5_land_source
from terraflux.sources.era5_land import variables as era5_vars
from terraflux.sources.era5_land.read import open_daily, open_hourly
from terraflux.sources.formats.sniff import sniff
from terraflux.sources.insitu import read as insitu_read
from terraflux.sources.insitu import sites as insitu_sites
from terraflux.sources.vhp.read import open_vhp
from terraflux.synthetic import era5_land, extremes, land_cover, towers, truth
from terraflux.synthetic import vhp as synthetic_vhp
from terraflux.synthetic.grids import cerra_grid, vhp_grid
from terraflux.synthetic.land import GROUP_OF_CLASS, PFTS
from terraflux.synthetic.weather import Points, Weather
from terraflux.synthetic.world import World, WorldSpec

import netCDF4
import numpy as np
import pandas as pd
import pytest

SMALL = {
    "region": {"north": 47.5, "west": 8.0, "south": 46.5, "east": 9.0},
    "period": {"start_year": 2016, "end_year": 2017, "train_years": [2016], "val_years": [], "test_years": [2017]},
    "synthetic": {"sea_fraction": 0.15, "n_sites": 3, "n_extreme_events": 4, "distractors_per_year": 3},
}


def small_config(**synthetic) -> dict:
    config = {key: dict(value) for key, value in SMALL.items()}
    config["synthetic"].update(synthetic)
    return validate(config)


@pytest.fixture(scope="module")
def config():
    return small_config()


@pytest.fixture(scope="module")
def world(config, tmp_path_factory):
    path = tmp_path_factory.mktemp("world") / "world.zarr"
    World.create(WorldSpec.from_config(config)).save(path)
    return World.load(path)  # every source job reads the world back from its store


@pytest.fixture(scope="module")
def era5_file(world, config, tmp_path_factory):
    path = tmp_path_factory.mktemp("era5") / "july.nc"
    variables = era5_vars(config["sources"]["era5_land"]["variables"])
    era5_land.write_hourly_month(path, world, 2016, 7, variables, list(range(24)), data_format="netcdf", as_zip=False)
    return path


def attrs(var) -> dict:
    return {name: var.getncattr(name) for name in var.ncattrs()}


# ---- the files read through the project readers ---------------------------------------------------


def test_fluxnet_files_read_through_the_project_reader(world, tmp_path):
    towers.write_fluxnet(tmp_path, world)
    files = insitu_read.fluxnet_files(tmp_path)
    assert sorted(files) == sorted(s["site_id"] for s in world.tables["sites"])
    for by_resolution in files.values():
        assert sorted(by_resolution) == ["DD", "MM"]
        monthly = insitu_read.read_fluxnet(by_resolution["MM"], "NT")
        assert monthly.attrs["units"] == "gC m-2 d-1"
        assert monthly["GPP"].notna().all() and monthly["NEE"].notna().all()
        assert 0 < monthly["GPP"].max() < 20 and monthly["qc"].between(0, 1).all()
    sites = insitu_sites.site_table(tmp_path, [tmp_path / "sites.csv"], sorted(files))
    assert sites["site_id"].tolist() == sorted(files) and sites["latitude"].notna().all()


def test_carbonsense_sites_read_through_the_project_reader(world, tmp_path):
    towers.write_carbonsense(tmp_path, world)
    dirs = insitu_read.site_dirs(tmp_path)
    assert len(dirs) == len(world.tables["sites"])
    meta = insitu_read.read_meta(dirs[0])
    assert meta["network"] in world.spec.knobs["networks"]
    targets = insitu_read.read_targets(dirs[0], "NT")
    gaps = targets["NEE"].isna().mean()
    assert 0.1 < gaps < 0.5  # gap_fraction 0.25 by default
    assert targets["NEE"].abs().max() < 60  # umol m-2 s-1


# ---- the contents: accumulation, sea, coherence with the truth ------------------------------------


def test_accumulated_fields_accumulate_from_midnight_and_sea_is_nan(world, era5_file):
    ds = netCDF4.Dataset(era5_file)
    hours = era5_land.month_hours(2016, 7)
    lat, lon = world.era5_grid.mesh()
    amounts = Weather(Points(world, lat, lon), np.arange(hours[0] - 23, hours[-1] + 1)).get("tp")
    tp = ds["tp"][:].filled(np.nan)
    land = world.land_mask
    # 00 UTC of 2 July holds the whole of 1 July (hours ending 01..24 UTC)
    day = amounts[23 + 1 : 23 + 25].sum(axis=0).reshape(land.shape)
    np.testing.assert_allclose(tp[24][land], day[land], rtol=1e-5, atol=1e-9)
    assert np.all(np.diff(tp[1:24], axis=0)[:, land] >= -1e-9)  # non-decreasing within the day
    assert (~land).any()
    for name in ("t2m", "tp", "swvl1"):
        values = ds[name][:].filled(np.nan)
        assert np.isnan(values[:, ~land]).all() and np.isfinite(values[:, land]).all()
    t2m = ds["t2m"][:].filled(np.nan)[:, land]
    assert 260 < np.nanmean(t2m) < 305 and np.nanstd(t2m) > 1
    assert (ds["d2m"][:].filled(np.nan)[:, land] <= t2m).all()


def test_true_pft_fractions_are_the_shares_of_the_land_cover_map(world, tmp_path):
    land_cover.write_zip(tmp_path / "lc.zip", world, 2017, tmp_path)
    zipfile.ZipFile(tmp_path / "lc.zip").extractall(tmp_path / "x")
    classes = netCDF4.Dataset(next((tmp_path / "x").glob("*.nc")))["lccs_class"][0].filled(0)
    lut = np.zeros(256, dtype=int)
    for cls, group in GROUP_OF_CLASS.items():
        lut[cls] = PFTS.index(group)
    # interior ERA5-Land cells are fully inside the file's box: 36 x 36 pixels each, offset by 18
    inner = classes[18:-18, 18:-18]
    groups = lut[inner]
    ny, nx = groups.shape[0] // 36, groups.shape[1] // 36
    land_pixels = (inner != 210).reshape(ny, 36, nx, 36).sum(axis=(1, 3))
    shares = np.stack([((groups == g) & (inner != 210)).reshape(ny, 36, nx, 36).sum(axis=(1, 3)) for g in range(4)])
    expected = world.year_fractions(2017)[:, 1:-1, 1:-1]
    has_land = land_pixels > 0
    np.testing.assert_allclose((shares / np.maximum(land_pixels, 1))[:, has_land], expected[:, has_land], atol=1e-6)
    assert (land_pixels < 36 * 36).any()  # some coast inside the tested cells
    frac = world.arrays["pft_fraction"]
    land = world.land_mask
    np.testing.assert_allclose(frac.sum(axis=1)[:, land], 1.0, atol=1e-5)
    dominant = frac[0, :3][:, land].max(axis=0)
    assert (dominant >= 0.9).sum() >= 5 and (dominant < 0.6).sum() >= 5  # pure and mixed cells


@pytest.mark.parametrize("events, years", [(16, 4), (17, 4), (3, 4), (10, 1)])
def test_events_are_spread_evenly_over_the_years(events, years):
    """Each year gets events // years events, the remainder goes to distinct years: every split of whole
    years holds events in proportion to its weeks."""
    counts = np.bincount(extremes.event_years(events, years, np.random.default_rng(events)), minlength=years)
    assert counts.sum() == events and counts.max() - counts.min() <= 1


def test_every_year_of_the_world_holds_its_share_of_events(world):
    years = [ev["start"] // extremes.WEEKS for ev in world.tables["events"]]
    assert sorted(years) == [0, 0, 1, 1]  # 4 events over 2 years


def test_vhi_is_extreme_exactly_inside_the_events(world, tmp_path):
    event = world.tables["events"][0]
    year = world.spec.years[0] + event["start"] // extremes.WEEKS
    week = event["start"] % extremes.WEEKS + 1
    synthetic_vhp.write_year({week: tmp_path / "v.nc"}, world, year, "npp")
    ds = netCDF4.Dataset(tmp_path / "v.nc")
    assert list(ds.dimensions) == ["HEIGHT", "WIDTH"] and ds.YEAR == year and ds.PERIOD_OF_YEAR == week
    vhi = ds["VHI"][:].filled(np.nan)
    step = vhp.STEP
    lat = ds.START_LATITUDE_RANGE - step * (np.arange(vhi.shape[0]) + 0.5)
    lon = ds.START_LONGITUDE_RANGE + step * (np.arange(vhi.shape[1]) + 0.5)
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    inside, _ = extremes.masks_for_week(world, event["start"], la, lo)
    valid = np.isfinite(vhi)
    assert inside[valid].any()
    np.testing.assert_array_equal(vhi[valid] < 26, inside[valid])
    np.testing.assert_allclose(vhi[valid], 0.5 * (ds["VCI"][:][valid] + ds["TCI"][:][valid]), atol=1e-4)


def test_anomalies_are_injected_exactly_where_the_truth_masks_say(world):
    ds = truth.extremes_dataset(world)
    lat, lon = world.era5_grid.mesh()
    points = Points(world, lat, lon)
    land = world.land_mask
    coupled = list(ds["variable"].values[ds["coupled"].values])
    assert coupled == world.spec.knobs["coupled_variables"]
    for var in ("t2m", "swvl1"):
        gw = next(d["start"] for d in world.tables["drivers"] if d["variable"] == var)
        year = world.spec.years[0] + gw // extremes.WEEKS
        start = extremes.week_start(year, gw % extremes.WEEKS + 1)
        hour = (pd.Timestamp(start) - pd.Timestamp("1970-01-01")) // pd.Timedelta(hours=1) + 36
        w = Weather(points, np.array([hour]))
        changed = np.abs(w.get(var) - w.base(var))[0].reshape(land.shape) > 1e-6
        marked = ds["driver"].sel(variable=var).values[gw] | ds["distractor"].sel(variable=var).values[gw]
        np.testing.assert_array_equal(changed[land], marked[land])
        assert marked.any()
    # every extreme pixel-week lies inside the driver footprint of every coupled variable
    for var in coupled:
        assert not (ds["extreme"].values & ~ds["driver"].sel(variable=var).values).any()
    assert ds["extreme"].values.any() and not ds["extreme"].values[:, ~land].any()


def test_truth_fluxes_are_plausible_and_sites_sit_in_their_cells(world):
    fl = truth.monthly_fluxes(world)
    land = world.land_mask
    gpp = fl["GPP"].values[:, land]
    nee = fl["NEE"].values[:, land]
    assert np.isnan(fl["GPP"].values[:, ~land]).all()
    assert (gpp >= 0).all() and 0.5 < np.nanmax(gpp.mean(axis=1)) < 12  # gC m-2 d-1, summer peak
    july, january = gpp[6].mean(), gpp[0].mean()
    assert july > 5 * january
    np.testing.assert_allclose(fl["NEE"].values[:, land], fl["RECO"].values[:, land] - gpp, atol=1e-4)
    assert nee[5:8].mean() < 0  # summer uptake
    sites = truth.sites_table(world)
    grid = world.era5_grid
    assert (np.abs(sites["latitude"] - grid.lat[sites["cell_iy"]]) <= 0.05).all()
    assert sites["network"].isin(world.spec.knobs["networks"]).all()


def test_cerra_grib_has_cerras_lambert_grid_and_the_same_weather(world, config, tmp_path):
    from terraflux.synthetic.cerra import write_analysis

    import cfgrib
    import eccodes

    write_analysis(
        tmp_path / "a.grib", world, 2016, 1, cerra.variables(["2m_temperature", "surface_pressure"], "x"), [0, 12]
    )
    with open(tmp_path / "a.grib", "rb") as handle:
        msg = eccodes.codes_grib_new_from_file(handle)
        keys = {
            k: eccodes.codes_get(msg, k)
            for k in (
                "gridType",
                "LaDInDegrees",
                "LoVInDegrees",
                "Latin1InDegrees",
                "Latin2InDegrees",
                "DxInMetres",
                "DyInMetres",
                "editionNumber",
            )
        }
        eccodes.codes_release(msg)
    assert keys == {
        "gridType": "lambert",
        "LaDInDegrees": 50.0,
        "LoVInDegrees": 8.0,
        "Latin1InDegrees": 50.0,
        "Latin2InDegrees": 50.0,
        "DxInMetres": 5500,
        "DyInMetres": 5500,
        "editionNumber": 2,
    }
    grid = cerra_grid(world.spec.region)
    assert grid.x[0] == (grid.i0 - cerra.CENTRE) * cerra.SPACING
    ds = [d for d in cfgrib.open_datasets(str(tmp_path / "a.grib"), indexpath="") if "t2m" in d][0]
    assert ds["t2m"].dims == ("time", "y", "x") and ds["latitude"].shape == (grid.ny, grid.nx)
    lat, lon = grid.latlon()
    np.testing.assert_allclose(ds["latitude"].values, lat, atol=1e-3)
    assert ds["latitude"].min() < world.spec.region.south and ds["latitude"].max() > world.spec.region.north
    era = Weather(
        Points(world, lat, lon), np.array([ds["time"].values[1].astype("datetime64[h]").astype(np.int64)])
    ).get("t2m")
    np.testing.assert_allclose(ds["t2m"].values[1], era.reshape(lat.shape), atol=0.05)  # 16-bit packing


# ---- reproducibility and configuration errors -------------------------------------------------------


def test_files_are_reproducible_bit_for_bit_and_depend_on_the_seed(config, world, era5_file, tmp_path):
    again = World.create(WorldSpec.from_config(config))
    path = tmp_path / "again.nc"
    variables = era5_vars(config["sources"]["era5_land"]["variables"])
    era5_land.write_hourly_month(path, again, 2016, 7, variables, list(range(24)), data_format="netcdf", as_zip=False)
    digest = lambda p: hashlib.sha256(Path(p).read_bytes()).hexdigest()  # noqa: E731
    assert digest(path) == digest(era5_file)
    other = dict(config, run=dict(config["run"], seed=config["run"]["seed"] + 1))
    changed = World.create(WorldSpec.from_config(other))
    assert not np.array_equal(changed.arrays["pft_fraction"], world.arrays["pft_fraction"])


def test_configuration_errors_name_the_key():
    with pytest.raises(ConfigError, match="synthetic.coupled_variables"):
        WorldSpec.from_config(small_config(coupled_variables=["t2m", "u10"]))
    bad = small_config()
    bad["sources"]["era5_land"]["variables"] = ["2m_temperature", "not_a_variable"]
    with pytest.raises(ConfigError, match="sources.era5_land.variables"):
        WorldSpec.from_config(bad)


def test_daily_zip_and_era5t_months_read_through_the_project_reader(config, tmp_path):
    cfg = small_config(era5t_months=1)
    world = World.create(WorldSpec.from_config(cfg))
    variables = era5_vars(["2m_temperature", "total_precipitation"])
    era5_land.write_daily_zip(tmp_path / "d.zip", world, 2016, 2, variables, "daily_mean", tmp_path)
    names = [era5_land_source.DAILY_MEMBER.format(request=v.request, statistic="daily_mean") for v in variables]
    assert sorted(zipfile.ZipFile(tmp_path / "d.zip").namelist()) == sorted(names)
    with open_daily(tmp_path / "d.zip", ["t2m", "tp"]) as ds:
        assert ds.sizes["time"] == 29 and ds["latitude"].values[0] > ds["latitude"].values[-1]
        t2m = ds["t2m"].values[:, world.land_mask]
        assert np.isfinite(t2m).all() and 250 < t2m.mean() < 290
    for name, month in (("dec.nc", 12), ("nov.nc", 11)):
        era5_land.write_hourly_month(
            tmp_path / name, world, 2017, month, variables, list(range(24)), data_format="netcdf", as_zip=False
        )
    assert set(netCDF4.Dataset(tmp_path / "dec.nc")["expver"][:]) == {"0005"}
    assert set(netCDF4.Dataset(tmp_path / "nov.nc")["expver"][:]) == {"0001"}
    with open_hourly(tmp_path / "dec.nc", ["t2m", "tp"]) as ds:
        assert ds.attrs["era5t_hours"] == 31 * 24


def test_vhp_files_read_through_the_project_reader(world, tmp_path):
    path = tmp_path / vhp.file_name("npp", 2016, 30)
    synthetic_vhp.write_year({30: path}, world, 2016, "npp")
    ds = open_vhp(path)
    grid = vhp_grid(world.spec.region)[0]
    assert ds["VHI"].shape == grid.shape
    np.testing.assert_allclose(ds["latitude"].values, grid.lat, atol=1e-4)
    np.testing.assert_allclose(ds["longitude"].values, grid.lon, atol=1e-4)
    sea = np.isnan(ds["VHI"].values)
    assert 0 < sea.mean() < 0.5


def test_grib_and_zip_deliveries_read_like_the_netcdf_file(world, era5_file, tmp_path):
    variables = era5_vars(["2m_temperature", "total_precipitation", "volumetric_soil_water_layer_1"])
    hours = list(range(24))
    era5_land.write_hourly_month(tmp_path / "g.nc", world, 2016, 7, variables, hours, data_format="grib", as_zip=False)
    era5_land.write_hourly_month(tmp_path / "z.nc", world, 2016, 7, variables, hours, data_format="netcdf", as_zip=True)
    assert sniff(tmp_path / "g.nc") == "grib" and sniff(tmp_path / "z.nc") == "zip"
    assert sorted(zipfile.ZipFile(tmp_path / "z.nc").namelist()) == sorted(
        era5_land_source.STEP_TYPE_MEMBER.format(step_type=s) for s in ("accum", "instant")
    )
    with (
        open_hourly(era5_file) as ref,
        open_hourly(tmp_path / "g.nc") as grib,
        open_hourly(tmp_path / "z.nc") as zipped,
    ):
        for name, tol in (("t2m", 1e-3), ("tp", 1e-6), ("swvl1", 1e-5)):
            np.testing.assert_array_equal(ref["time"].values, grib["time"].values)
            np.testing.assert_allclose(grib[name].values, ref[name].values, atol=tol)  # 16-bit packing
            np.testing.assert_array_equal(zipped[name].values, ref[name].values)


def test_cerra_truth_carries_the_anomalies_of_the_variables_each_cerra_field_is_made_of(world):
    names = ["2m_temperature", "2m_relative_humidity", "volumetric_soil_moisture", "total_cloud_cover"]
    variables = cerra.variables(names, "x")
    ds = truth.extremes_cerra_dataset(world, variables)
    grid = cerra_grid(world.spec.region)
    assert ds["driver"].dims == ("variable", "time", "y", "x") and ds.sizes["y"] == grid.ny and ds.sizes["x"] == grid.nx
    assert dict(zip(ds["variable"].values, ds["coupled"].values, strict=True)) == {
        "t2m": True,
        "r2": True,
        "vsw": True,
        "tcc": False,
    }
    lat, lon = grid.latlon()
    era = extremes.truth_masks(world, ["t2m", "d2m", "swvl1"], lat, lon, ds["land_mask"].values)
    np.testing.assert_array_equal(ds["driver"].sel(variable="r2").values, era["driver"][0] | era["driver"][1])
    np.testing.assert_array_equal(ds["distractor"].sel(variable="vsw").values, era["distractor"][2])
    assert ds["driver"].sel(variable="vsw").values.any() and not ds["driver"].sel(variable="tcc").values.any()
    assert ds["extreme"].values.any()
