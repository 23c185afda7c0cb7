"""Preparation in parts (init / part / finalise): the same stores as one job, bit for bit; a killed part reruns
alone; chunk ownership of the region writers."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import terraflux  # noqa: F401
from terraflux.errors import DataError
from terraflux.prepare import parts, stores
from terraflux.prepare.era5_land import finalise_era5_land, init_era5_land, prepare_era5_land, prepare_era5_land_part
from terraflux.sources import era5_land

import numpy as np
import pytest
import xarray as xr
import zarr

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import cds_files  # noqa: E402

from support.prepared import assert_same_stores  # noqa: E402

NY, NX = 6, 8
YEARS = (2016, 2017, 2018)
OPTIONS = {
    "variables": ["2m_temperature", "2m_dewpoint_temperature", "total_precipitation"],
    "region": {"north": 48.0, "south": 47.5, "west": 8.0, "east": 8.7},
    "period": {"start_year": 2016, "end_year": 2018, "train_years": [2016, 2017]},
    "factor": 2,
    "product": "hourly",
}
RUN = {"hours": list(range(24)), "workers": 1, "strict": True}
STORES = ("daily", "weekly", "monthly")


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    files = {}
    for year in YEARS:
        for month in range(1, 13):
            path = root / era5_land.raw_path("hourly", year, month)
            cds_files.write_month(path, year, month, ("t2m", "d2m", "tp"), NY, NX)
            files[(year, month)] = [str(path)]
    return files


def finals(out: Path) -> dict:
    return {f"{k}_path": out / f"era5_land_{k}.zarr" for k in STORES}


@pytest.fixture(scope="module")
def one_job(raw, tmp_path_factory):
    out = tmp_path_factory.mktemp("one_job")
    prepare_era5_land(raw, **finals(out), **OPTIONS, **RUN, provenance={"rule": "one"})
    return out


def part_files(raw, first, last):
    """The files a part rule gets: its months and the month after (when the period goes on)."""
    return {k: v for k, v in raw.items() if first <= k[0] <= last or k == (last + 1, 1)}


def run_parts(raw, out: Path, part_years: int, saved: Path | None = None) -> list[parts.Part]:
    staging = out / "stores"
    init_era5_land(raw[(2016, 1)], stores_dir=staging, **OPTIONS)
    done = []
    for first, last in parts.year_parts(2016, 2018, part_years):
        part = prepare_era5_land_part(
            part_files(raw, first, last), stores_dir=staging, years=(first, last), **OPTIONS, **RUN
        )
        if saved is not None:  # through the part folder, as the workflow hands parts to finalise
            parts.save_part(part, saved / part.label)
            part = parts.load_part(saved / part.label)
        done.append(part)
    return done


def assert_identical(a_dir: Path, b_dir: Path) -> None:
    assert_same_stores(a_dir, b_dir, [f"era5_land_{k}.zarr" for k in STORES])


@pytest.mark.parametrize("part_years", [1, 2])
def test_parts_equal_one_job_bit_for_bit(raw, one_job, tmp_path, part_years):
    done = run_parts(raw, tmp_path, part_years, saved=tmp_path / "parts")
    # chunks shared by two parts at a year boundary: 32 days, the monthly series, 8 weeks after an odd year
    shared = {k for k in STORES if any(p.edges.get(k) for p in done)}
    assert shared == ({"daily", "weekly", "monthly"} if part_years == 1 else {"daily", "monthly"})
    finalise_era5_land(
        tmp_path / "stores",
        done,
        **finals(tmp_path),
        period=OPTIONS["period"],
        factor=OPTIONS["factor"],
        provenance={"rule": "parts"},
    )
    assert_identical(one_job, tmp_path)
    assert not (tmp_path / "stores" / "daily.zarr").exists()  # moved to its final path


PART_SCRIPT = """
import json, sys
import terraflux
from terraflux.prepare import parts
from terraflux.prepare.era5_land import prepare_era5_land_part
args = json.loads(sys.argv[1])
files = {tuple(map(int, k.split("-"))): v for k, v in args["files"].items()}
part = prepare_era5_land_part(files, stores_dir=args["staging"], years=tuple(args["years"]), **args["options"])
parts.save_part(part, args["out"])
"""


def test_killed_part_reruns_alone_and_result_is_identical(raw, one_job, tmp_path):
    staging, saved = tmp_path / "stores", tmp_path / "parts"
    init_era5_land(raw[(2016, 1)], stores_dir=staging, **OPTIONS)
    done = {}
    for first, last in [(2016, 2016), (2018, 2018)]:
        part = prepare_era5_land_part(
            part_files(raw, first, last), stores_dir=staging, years=(first, last), **OPTIONS, **RUN
        )
        parts.save_part(part, saved / part.label)
    written = {p: p.stat().st_mtime_ns for p in (staging / "daily.zarr").rglob("*") if p.is_file()}
    # the 2017 part in its own process, killed (SIGKILL) once it has written some of its daily chunks
    args = {
        "files": {f"{y}-{m}": v for (y, m), v in part_files(raw, 2017, 2017).items()},
        "staging": str(staging),
        "years": [2017, 2017],
        "options": {**OPTIONS, **RUN},
        "out": str(saved / "2017"),
    }
    process = subprocess.Popen([sys.executable, "-c", PART_SCRIPT, json.dumps(args)])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        new = [p for p in (staging / "daily.zarr" / "t2m").rglob("*") if p.is_file() and p not in written]
        if new:
            break
        time.sleep(0.005)
    assert process.poll() is None, "the part ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert new, "the part wrote no chunk before the deadline"
    assert not (saved / "2017").exists()  # no marker: the part is not done
    with pytest.raises(DataError, match="year 2017 is missing"):
        parts.check_tiling([parts.load_part(saved / k) for k in ("2016", "2018")], 2016, 2018)
    # the rerun of the killed part alone (the other parts' chunks are not touched), then finalise
    part = prepare_era5_land_part(part_files(raw, 2017, 2017), stores_dir=staging, years=(2017, 2017), **OPTIONS, **RUN)
    parts.save_part(part, saved / "2017")
    unchanged = {p: p.stat().st_mtime_ns for p in written}
    assert unchanged == written
    done = [parts.load_part(saved / k) for k in ("2016", "2017", "2018")]
    finalise_era5_land(staging, done, **finals(tmp_path), period=OPTIONS["period"], factor=2, provenance={})
    assert_identical(one_job, tmp_path)


def test_region_writers_own_disjoint_chunks_and_edges_complete_the_store(tmp_path):
    total, chunk = 50, 8
    data = np.arange(total * 3, dtype=np.float32).reshape(total, 3)
    group = zarr.open_group(str(tmp_path / "s.zarr"), mode="w")
    group.create_array("v", shape=(total, 3), chunks=(chunk, 3), dtype="float32", fill_value=np.nan)
    written = []
    edges = []
    for begin, end in [(0, 13), (13, 29), (29, 31), (31, 50)]:
        writer = stores.TimeChunkWriter(group, ["v"], chunk, total, (begin, end))
        before = group["v"][:].copy()
        for start in range(begin, end, 5):
            writer.push(start, {"v": data[start : min(start + 5, end)]})
        writer.close()
        changed = np.flatnonzero(~np.isnan(group["v"][:, 0]) & np.isnan(before[:, 0]))
        written.extend(changed.tolist())
        assert all(begin <= i < end for i in changed)  # a part writes only inside its region ...
        assert all(i // chunk * chunk >= begin and min(i // chunk * chunk + chunk, total) <= end for i in changed)
        edges.extend(writer.edges)  # ... and only the chunks that lie wholly inside it
    stores.write_edges(group, edges)
    np.testing.assert_array_equal(group["v"][:], data)
    with pytest.raises(ValueError, match="overlap"):
        stores.write_edges(group, edges + edges[:1])


def test_year_parts_and_labels():
    assert parts.year_parts(1985, 1989, 2) == [(1985, 1986), (1987, 1988), (1989, 1989)]
    assert [parts.label(*p) for p in parts.year_parts(1985, 1986, 1)] == ["1985", "1986"]
    with pytest.raises(ValueError):
        parts.year_parts(1985, 1986, 0)


def test_workers_fit_the_memory_budget():
    from terraflux.prepare.era5_land import WORKER_BASE_BYTES, month_bytes

    per_worker = month_bytes(381 * 701)  # the Europe preset's grid: 9 hourly arrays of a 31-day month
    assert per_worker == 9 * 31 * 24 * 381 * 701 * 4 + WORKER_BASE_BYTES
    assert parts.workers_within(3 * per_worker, per_worker, 16) == 3
    assert parts.workers_within(3 * per_worker - 1, per_worker, 16) == 2
    assert parts.workers_within(64000 * 2**20, per_worker, 8) == 8  # the preset's prepare jobs: 8 threads, 64 GB
    assert parts.workers_within(64000 * 2**20, per_worker, 16) == 9  # 16 threads would not fit 64 GB
    assert parts.workers_within(1, per_worker, 16) == 1  # one worker at least
    assert parts.workers_within(1e15, per_worker, 4) == 4  # never more than the threads


@pytest.fixture(scope="module")
def cerra_files(tmp_path_factory):
    from test_prepare_cerra_vhp import TP, month_steps, write_cerra

    root = tmp_path_factory.mktemp("cerra")
    files = {}
    for year in (2016, 2017):
        for month in range(1, 13):
            steps = month_steps(year, month)
            analysis = write_cerra(root / f"analysis-{year}-{month:02d}.grib", steps, gradient=0.25 * month)
            forecast = write_cerra(root / f"forecast-{year}-{month:02d}.grib", steps, (TP,), forecast=True)
            files[(year, month)] = [str(analysis), str(forecast)]
    return files


def test_cerra_parts_equal_one_job_bit_for_bit(cerra_files, tmp_path):
    from terraflux.prepare.cerra import finalise_cerra, init_cerra, prepare_cerra, prepare_cerra_part

    period = {"start_year": 2016, "end_year": 2017, "train_years": [2016]}
    options = {"period": period, "crop": [1, 5, 0, 4]}
    (tmp_path / "one").mkdir()
    prepare_cerra(
        cerra_files,
        out_path=tmp_path / "one/cerra_weekly.zarr",
        variables=[],
        reproject=None,
        daily_path=tmp_path / "one/cerra_daily.zarr",
        **options,
    )
    staging, done = tmp_path / "stores", []
    init_cerra(cerra_files[(2016, 1)], stores_dir=staging, variables=[], daily=True, **options)
    for year in (2017, 2016):  # in any order
        part = prepare_cerra_part(cerra_files, stores_dir=staging, years=(year, year), **options)
        parts.save_part(part, tmp_path / "parts" / part.label)
        done.append(parts.load_part(tmp_path / "parts" / part.label))
    assert any(p.edges.get("weekly") for p in done)  # 2016 ends in the middle of an 8-week chunk
    assert any(p.edges.get("daily") for p in done)  # ... and of a 32-day chunk
    with pytest.raises(ValueError, match="with a daily store.*not given one.*rerun the CERRA preparation"):
        finalise_cerra(staging, done, out_path=tmp_path / "parts/cerra_weekly.zarr", reproject=None, period=period)
    finalise_cerra(
        staging,
        done,
        out_path=tmp_path / "parts/cerra_weekly.zarr",
        reproject=None,
        period=period,
        daily_path=tmp_path / "parts/cerra_daily.zarr",
    )
    assert_same_stores(tmp_path / "one", tmp_path / "parts", ["cerra_weekly.zarr", "cerra_daily.zarr"])


def test_vhp_parts_equal_one_job_bit_for_bit(tmp_path):
    from terraflux.prepare import weekly
    from terraflux.prepare.vhp import finalise_vhp, init_vhp, prepare_vhp, prepare_vhp_part
    from terraflux.sources import vhp

    from test_prepare_cerra_vhp import write_vhp

    rng = np.random.default_rng(5)
    files = {}
    for year in (2016, 2017):
        for week in range(1, 53):
            vhi = rng.uniform(5, 95, (8, 12)).astype(np.float32)
            vhi[rng.random((8, 12)) < 0.1] = np.nan
            if (year, week) == (2017, 9):
                vhi[:] = np.nan  # a week without any valid pixel
            files[(year, week)] = write_vhp(tmp_path / vhp.file_name("npp", year, week), vhi)
    target = tmp_path / "era5_land_weekly.zarr"
    coords = {
        **weekly.coords(2016, 2017),
        "latitude": (("latitude",), np.array([47.95, 47.85]), {}),
        "longitude": (("longitude",), np.array([8.05, 8.15, 8.25]), {}),
    }
    space = ("latitude", "longitude")
    stores.create(target, coords, {"land_mask": stores.variable(space, {}, bool)}, weekly.CHUNKS, {}, crs=None)
    stores.finish(target)
    (tmp_path / "one").mkdir()
    prepare_vhp(files, weekly_store=target, out_path=tmp_path / "one/vhp.zarr")
    init_vhp(weekly_store=target, stores_dir=tmp_path / "stores")
    done = []
    for year in (2016, 2017):
        part = prepare_vhp_part(files, weekly_store=target, stores_dir=tmp_path / "stores", years=(year, year))
        parts.save_part(part, tmp_path / "parts" / part.label)
        done.append(parts.load_part(tmp_path / "parts" / part.label))
    assert done[0].edges.get("vhp")  # 2016 ends in the middle of an 8-week chunk
    period = {"start_year": 2016, "end_year": 2017}
    finalise_vhp(tmp_path / "stores", done, out_path=tmp_path / "parts/vhp.zarr", period=period)
    assert_same_stores(tmp_path / "one", tmp_path / "parts", ["vhp.zarr"])
    assert xr.open_zarr(tmp_path / "parts/vhp.zarr").attrs["weeks_without_valid_pixel"] == ["2017-W09"]
