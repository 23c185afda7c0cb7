"""IDE datasets on small weekly stores built as docs/data-layout.md describes (ERA5-Land and CERRA
layouts): climatology from training years only, normalisation, masks, ground truth aligned to a dataset."""

import terraflux  # noqa: F401
from terraflux.errors import DataError
from terraflux.ide.dataset import truth_drivers, week_of_year, weekly_source, write_dataset
from terraflux.ide.windows import WindowData

import numpy as np
import pytest
import xarray as xr

from support.ide_config import IDE

MEMORY_GB = IDE["train"]["memory_gb"]

YEARS = [2016, 2017, 2018, 2019]


def week_starts(years):
    return np.array([np.datetime64(f"{y}-01-01") + np.timedelta64(7 * k, "D") for y in years for k in range(52)])


def weekly_store(path, *, cerra=False, variables=("t2m", "tp"), seed=0, shift_test=0.0):
    """A weekly store in the layout of era5_land_weekly.zarr / cerra_weekly.zarr (small)."""
    rng = np.random.default_rng(seed)
    time = week_starts(YEARS)
    ny, nx = 5, 6
    dims = ("time", "y", "x") if cerra else ("time", "latitude", "longitude")
    year = time.astype("datetime64[Y]").astype(int) + 1970
    week = week_of_year(time)
    data = {}
    for i, v in enumerate(variables):
        seasonal = 10 * i + np.sin(2 * np.pi * week / 52)[:, None, None]
        mean = (seasonal + rng.normal(0, 1, (len(time), ny, nx))).astype(np.float32)
        mean[year == 2019] += shift_test
        data[f"{v}_mean"] = (dims, mean, {"units": "K"})
        data[f"{v}_std"] = (dims, rng.gamma(2, 1, (len(time), ny, nx)).astype(np.float32), {"units": "K"})
        data[f"{v}_mean_clim"] = (("week_of_year",) + dims[1:], np.zeros((52, ny, nx), np.float32))
        data[f"{v}_std_clim"] = (("week_of_year",) + dims[1:], np.ones((52, ny, nx), np.float32))
    land = np.ones((ny, nx), bool)
    land[0, 0] = False
    data["land_mask"] = (dims[1:], land)
    coords = {
        "time": time,
        "year": ("time", year.astype(np.int32)),
        "week": ("time", week.astype(np.int32)),
        "week_of_year": np.arange(1, 53),
    }
    if cerra:
        coords.update(y=np.arange(ny) * 5500.0, x=np.arange(nx) * 5500.0)
        coords["latitude"] = (("y", "x"), 45 + rng.random((ny, nx)))
        coords["longitude"] = (("y", "x"), 10 + rng.random((ny, nx)))
    else:
        coords.update(latitude=np.linspace(48, 46, ny), longitude=np.linspace(8, 11, nx))
    xr.Dataset(data, coords=coords).to_zarr(path, zarr_format=3, consolidated=False)
    vhi = rng.uniform(0, 100, (len(time), ny, nx)).astype(np.float32)
    vhi[:, 1, 1] = np.nan
    vhp = xr.Dataset(
        {"VHI": (dims, vhi), "extreme": (dims, vhi < 26), "extreme_loose": (dims, vhi < 35)},
        coords={k: v for k, v in coords.items() if k not in ("year", "week", "week_of_year")},
    )
    vhp_path = path.parent / ("vhp_" + path.name.replace("_weekly", ""))
    vhp.to_zarr(vhp_path, zarr_format=3, consolidated=False)
    return vhp_path


def test_week_of_year_folds_the_last_days_into_week_52():
    days = np.array(["2017-01-07", "2017-01-08", "2017-12-24", "2017-12-31", "2016-12-31"], dtype="datetime64[D]")
    assert week_of_year(days).tolist() == [1, 2, 52, 52, 52]


@pytest.mark.parametrize("cerra", [False, True])
def test_weekly_store_to_dataset(tmp_path, cerra):
    name = "cerra_weekly.zarr" if cerra else "era5_land_weekly.zarr"
    vhp = weekly_store(tmp_path / name, cerra=cerra)
    source = weekly_source(
        tmp_path / name, vhp, variables=[], train_years=[2016, 2017], val_years=[2018], test_years=[2019]
    )
    assert source.variables == ["t2m", "tp"] and source.channels == ["mean", "std"]
    write_dataset(source, tmp_path / "ds.zarr", 10.0, {"dataset": "x"})
    ds = xr.open_zarr(tmp_path / "ds.zarr", consolidated=False)
    assert ds["inputs"].dims == ("variable", "channel", "time", "y", "x")
    assert ds["inputs"].shape == (2, 2, 208, 5, 6) and ds["inputs"].dtype == np.float32
    split = ds["split"].values
    assert (split == 0).sum() == 104 and (split == 1).sum() == 52 and (split == 2).sum() == 52
    # climatology of the training weeks: normalised training values have mean 0 and std 1 per week and pixel
    train = ds["inputs"].values[:, :, split == 0]
    per_week = train.reshape(2, 2, 2, 52, 5, 6)
    np.testing.assert_allclose(per_week.mean(axis=2), 0, atol=1e-2)  # float32 rounding
    # valid: land and VHI present; targets only where valid
    valid = ds["valid"].values
    assert not valid[:, 0, 0].any() and not valid[:, 1, 1].any() and valid[:, 2, 2].all()
    assert not (ds["extreme"].values & ~valid).any()
    if cerra:
        assert ds["latitude"].dims == ("y", "x")


def test_climatology_ignores_val_and_test_years(tmp_path):
    a = weekly_store(tmp_path / "a" / "era5_land_weekly.zarr", seed=1)
    b = weekly_store(tmp_path / "b" / "era5_land_weekly.zarr", seed=1, shift_test=50.0)
    years = dict(variables=["t2m"], train_years=[2016, 2017], val_years=[2018], test_years=[2019])
    write_dataset(weekly_source(a.parent / "era5_land_weekly.zarr", a, **years), tmp_path / "a.zarr", 10.0, {})
    write_dataset(weekly_source(b.parent / "era5_land_weekly.zarr", b, **years), tmp_path / "b.zarr", 10.0, {})
    da, db = (
        xr.open_zarr(tmp_path / "a.zarr", consolidated=False),
        xr.open_zarr(tmp_path / "b.zarr", consolidated=False),
    )
    np.testing.assert_array_equal(da["clim_mean"].values, db["clim_mean"].values)
    test = db["inputs"].values[0, 0, db["split"].values == 2]
    assert test.max() == 10.0  # a 50-unit shift is clipped at +10 standard deviations


def test_missing_variable_and_store_are_clear_errors(tmp_path):
    vhp = weekly_store(tmp_path / "era5_land_weekly.zarr")
    with pytest.raises(DataError, match="ide.variables"):
        weekly_source(
            tmp_path / "era5_land_weekly.zarr",
            vhp,
            variables=["swvl1"],
            train_years=[2016],
            val_years=[],
            test_years=[],
        )
    with pytest.raises(DataError, match="vhp_cerra.zarr does not exist"):
        weekly_source(
            tmp_path / "era5_land_weekly.zarr",
            tmp_path / "vhp_cerra.zarr",
            variables=[],
            train_years=[2016],
            val_years=[],
            test_years=[],
        )


def test_world_truth_is_aligned_by_variable_and_week(tmp_path):
    vhp = weekly_store(tmp_path / "era5_land_weekly.zarr")
    source = weekly_source(
        tmp_path / "era5_land_weekly.zarr",
        vhp,
        variables=[],
        train_years=[2016, 2017],
        val_years=[2018],
        test_years=[2019],
    )
    write_dataset(source, tmp_path / "ds.zarr", 10.0, {})
    data = WindowData(tmp_path / "ds.zarr", 8, MEMORY_GB)
    time = week_starts(YEARS)
    rng = np.random.default_rng(0)
    drivers = rng.random((2, len(time), 5, 6)) > 0.8  # truth lists tp and an unknown variable, not t2m
    xr.Dataset(
        {"driver": (("variable", "time", "latitude", "longitude"), drivers)},
        coords={
            "variable": ["tp", "swvl1"],
            "time": time,
            "latitude": np.linspace(48, 46, 5),
            "longitude": np.linspace(8, 11, 6),
        },
    ).to_zarr(tmp_path / "extremes.zarr", zarr_format=3, consolidated=False)
    truth, has = truth_drivers(tmp_path / "extremes.zarr", tmp_path / "ds.zarr")
    assert data.variables == ["t2m", "tp"] and has.tolist() == [False, True]
    np.testing.assert_array_equal(truth[1], drivers[0])
    assert not truth[0].any()


def test_climatology_pools_the_weeks_of_year_around_each_week():
    """Pool 3: week w's mean and std are those of the samples of weeks w - 1, w, w + 1 (cyclic: week 1 takes
    week 52's); pool 1 is each week alone; with one sample per week alone the std falls back to 1."""
    from terraflux.ide.dataset import Climatology

    rng = np.random.default_rng(0)
    values = rng.normal(size=(1, 104, 1, 1))  # 2 years
    weeks = np.tile(np.arange(1, 53), 2)
    clim = Climatology((1, 1, 1))
    clim.add(values, weeks)
    mean1, std1 = clim.finish(1)
    mean3, std3 = clim.finish(3)
    rel = 4 * float(np.finfo(np.float32).eps)  # float64 sums, float32 results
    for week, around in ((10, [9, 10, 11]), (1, [52, 1, 2])):
        samples = values[0, np.isin(weeks, around), 0, 0]
        assert mean3[0, week - 1, 0, 0] == pytest.approx(samples.mean(), rel=rel)
        assert std3[0, week - 1, 0, 0] == pytest.approx(samples.std(ddof=1), rel=rel)
        alone = values[0, weeks == week, 0, 0]
        assert mean1[0, week - 1, 0, 0] == pytest.approx(alone.mean(), rel=rel)
        assert std1[0, week - 1, 0, 0] == pytest.approx(alone.std(ddof=1), rel=rel)
    with pytest.raises(ValueError, match="odd"):
        clim.finish(4)


def test_two_training_years_need_a_pooled_climatology_to_keep_a_training_anomaly():
    """With 2 training years a week's own climatology normalises every training value to +-1/sqrt(2)
    (sample std of 2 values), so an anomaly of the training years vanishes; pooled over 25 weeks of year
    (the real-data default) it stands out. Why ide.climatology_weeks is 25 on the demo world."""
    from terraflux.ide.dataset import Climatology, normalise

    rng = np.random.default_rng(1)
    values = rng.normal(size=(1, 104, 1, 1)).astype(np.float32)  # 2 years of unit noise
    weeks = np.tile(np.arange(1, 53), 2)
    anomaly = (weeks >= 20) & (weeks <= 23) & (np.arange(104) < 52)  # 4 weeks of the first year
    values[0, anomaly] += 4.0
    clim = Climatology((1, 1, 1))
    clim.add(values, weeks)
    mean, std = clim.finish(1)
    alone = normalise(values, weeks, mean, std, clip=10.0)[0, :, 0, 0]
    pooled = normalise(values, weeks, *clim.finish(IDE["climatology_weeks"]["era5_land"]), clip=10.0)[0, :, 0, 0]
    # float32 rounding of x, mean and std, magnified by the cancellation in x - mean
    eps = float(np.finfo(np.float32).eps)
    x, m, sd = values[0, :, 0, 0], mean[0, weeks - 1, 0, 0], std[0, weeks - 1, 0, 0]
    tolerance = 4 * eps * (np.abs(x) + np.abs(m)) / sd + 4 * eps
    assert (np.abs(np.abs(alone) - 2**-0.5) <= tolerance).all()
    # pooled: about (4 - 0.32) / 1.47 (mean and std of 50 samples, 4 of them anomalous), less the noise
    assert pooled[anomaly].min() > 2.0
