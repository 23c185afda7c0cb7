"""Benchmark: ERA5-Land prepared in parts at scale, a killed part, and the projection for the Europe preset.

Writes hourly ERA5-Land files in the CDS layout (``terraflux.sources.era5_land.write`` through
``bench/cds_files.py``; default 100 x 100 cells, 4 variables, 3 years: 4.3 GB uncompressed) and builds the
daily, weekly and monthly stores twice, each job in its own process with its CPU time and the peak RSS of its
process tree measured:

- one job (``prepare_era5_land``: one part of the whole period);
- in parts of one year (``init_era5_land``, ``prepare_era5_land_part`` per year, ``finalise_era5_land``), with
  the second part killed (SIGKILL) after it has written some chunks and then rerun alone.

Checks that both builds are equal bit for bit (values and attributes but the provenance), prints per-part time
and peak memory against the part's size (1 year, and the whole period in the one job), and projects the
Europe preset (config/europe.yaml: 381 x 701 cells of 0.1 degree, 10 variables, 40 years) from the measured
costs per cell, variable and month (the model and its assumptions: docs/cluster.md).

    python bench/bench_scale.py [--dir /tmp/tf-bench-scale] [--ny 100] [--nx 100] [--years 3] [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

VARIABLES = ("t2m", "d2m", "tp", "swvl1")
START = 2001
REGION = {"north": 90, "south": -90, "west": -180, "east": 360}
FACTOR = 5
HOURS_PER_MONTH = 24 * 365.25 / 12
# The Europe preset (config/europe.yaml): region 34..72 N, 25 W..45 E on the 0.1 degree grid, 1985-2024, the
# 10 default variables (plus vpd, computed), parts of one year, compute.prepare: 8 threads and 64000 MB a job.
FACTOR_EUROPE = 2  # prepare.model_grid_factor of the preset (monthly store)
EUROPE = {"ny": 381, "nx": 701, "variables": 10, "years": 40, "part_years": 1, "threads": 8, "mem_mb": 64000}


def generate(root: Path, years: int, ny: int, nx: int) -> dict:
    """``{(year, month): [path]}`` of the generated files (kept between runs)."""
    from terraflux.sources import era5_land

    import cds_files

    files = {}
    for year in range(START, START + years):
        for month in range(1, 13):
            path = root / era5_land.raw_path("hourly", year, month)
            if not path.exists():
                tmp = path.with_suffix(".tmp")
                cds_files.write_month(tmp, year, month, VARIABLES, ny, nx, north=60.0, west=0.0)
                tmp.rename(path)
            files[(year, month)] = [str(path)]
    return files


def child(mode: str, spec: dict) -> None:
    """One job of a build (in its own process, so that its time and memory are its own)."""
    import terraflux  # noqa: F401
    from terraflux.prepare import era5_land, parts

    if mode == "imports":
        return
    files = {tuple(map(int, k.split("-"))): v for k, v in spec["files"].items()}
    options = {"variables": list(VARIABLES), "region": REGION, "period": spec["period"], "factor": FACTOR}
    run = {"product": "hourly", "hours": range(24), "workers": spec["workers"], "strict": True}
    out = Path(spec["out"])
    finals = {f"{k}_path": out / f"era5_land_{k}.zarr" for k in ("daily", "weekly", "monthly")}
    if mode == "one_job":
        era5_land.prepare_era5_land(files, **finals, **options, **run, provenance={"job": "one"})
    elif mode == "init":
        era5_land.init_era5_land(files[(START, 1)], stores_dir=out / "stores", product="hourly", **options)
    elif mode == "part":
        years = tuple(spec["years"])
        part = era5_land.prepare_era5_land_part(files, stores_dir=out / "stores", years=years, **options, **run)
        parts.save_part(part, out / "parts" / part.label)
    elif mode == "finalise":
        done = [parts.load_part(p) for p in sorted((out / "parts").iterdir())]
        era5_land.finalise_era5_land(
            out / "stores", done, **finals, period=spec["period"], factor=FACTOR, provenance={"job": "parts"}
        )


def command(mode: str, spec: dict) -> list[str]:
    return [sys.executable, __file__, "--child", mode, json.dumps(spec)]


def part_files(files: dict, first: int, last: int) -> dict:
    return {f"{y}-{m}": v for (y, m), v in files.items() if first <= y <= last or (y, m) == (last + 1, 1)}


def kill_after_first_chunk(spec: dict, stores: Path) -> None:
    """Start the part of ``spec`` and SIGKILL it once it has written a daily chunk of its own."""
    before = set((stores / "daily.zarr").rglob("c/*"))
    proc = subprocess.Popen(command("part", spec))
    while proc.poll() is None and not (set((stores / "daily.zarr").rglob("c/*")) - before):
        time.sleep(0.01)
    if proc.poll() is not None:
        raise SystemExit("the part ended before it could be killed")
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def du_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/tf-bench-scale")
    parser.add_argument("--ny", type=int, default=100)
    parser.add_argument("--nx", type=int, default=100)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--project", action="store_true", help="only print the projection from results.json")
    parser.add_argument("--child")
    parser.add_argument("spec", nargs="?")
    args = parser.parse_args()
    if args.child:
        child(args.child, json.loads(args.spec or "{}"))
        return

    import shutil

    from terraflux.prepare import parts

    from process_peak import measure_process

    from support.prepared import assert_same_stores

    root = Path(args.dir)
    if args.project:
        project(json.loads((root / "results.json").read_text()))
        return
    started = time.perf_counter()
    files = generate(root / "raw", args.years, args.ny, args.nx)
    cells, nvars = args.ny * args.nx, len(VARIABLES)
    input_mb = sum(4 * cells * nvars * 24 * _days(y, m) for y, m in files) / 1e6
    print(
        f"input: {len(files)} hourly files, {args.ny} x {args.nx} cells, {nvars} variables, {input_mb:.0f} MB "
        f"uncompressed ({time.perf_counter() - started:.0f} s to write or find)"
    )
    period = {"start_year": START, "end_year": START + args.years - 1, "train_years": [START]}
    every = {f"{y}-{m}": v for (y, m), v in files.items()}
    for name in ("one", "parts"):
        shutil.rmtree(root / name, ignore_errors=True)
        (root / name).mkdir(parents=True)
    base = measure_process(command("imports", {}))
    common = {"period": period, "workers": args.workers}
    one = measure_process(command("one_job", {**common, "files": every, "out": str(root / "one")}))
    spec = {**common, "files": every, "out": str(root / "parts")}
    jobs = {"init": measure_process(command("init", spec))}
    killed = None
    for first, last in parts.year_parts(START, START + args.years - 1, 1):
        part = {**spec, "files": part_files(files, first, last), "years": [first, last]}
        if first == START + 1:
            kill_after_first_chunk(part, root / "parts" / "stores")
            killed = parts.label(first, last)
            assert not (root / "parts" / "parts" / killed).exists(), "a killed part left a part folder"
        jobs[f"part {parts.label(first, last)}"] = measure_process(command("part", part))
    jobs["finalise"] = measure_process(command("finalise", spec))
    names = [f"era5_land_{k}.zarr" for k in ("daily", "weekly", "monthly")]
    assert_same_stores(root / "one", root / "parts", names)
    print(f"parts ({killed} killed after its first chunk and rerun alone) == one job: bit for bit\n")

    print(f"{'job':14s} {'months':>6s} {'wall s':>7s} {'CPU s':>7s} {'peak MB':>8s}")
    print(f"{'(imports)':14s} {0:6d} {base['wall_s']:7.1f} {base['cpu_s']:7.1f} {base['peak_rss_mb']:8.0f}")
    print(f"{'one job':14s} {12 * args.years:6d} {one['wall_s']:7.1f} {one['cpu_s']:7.1f} {one['peak_rss_mb']:8.0f}")
    for name, r in jobs.items():
        months = 12 if name.startswith("part") else 0
        print(f"{name:14s} {months:6d} {r['wall_s']:7.1f} {r['cpu_s']:7.1f} {r['peak_rss_mb']:8.0f}")
    load = max(r["load"] for r in [one, *jobs.values()])
    print(f"(load average up to {load:.1f} on {_cores()} cores)")

    stores_mb = du_mb(root / "one")
    results = {"base": base, "one_job": one, "jobs": jobs, "stores_mb": stores_mb, "cells": cells}
    results.update({"variables": nvars, "years": args.years})
    (root / "results.json").write_text(json.dumps(results, indent=1))
    project(results)


def project(results: dict) -> None:
    """Print the Europe preset's plan from the measured costs per cell, variable and month (results.json)."""
    from terraflux.prepare import parts
    from terraflux.prepare.era5_land import month_bytes

    base, one, jobs = results["base"], results["one_job"], results["jobs"]
    cells, nvars, years = results["cells"], results["variables"], results["years"]
    part_runs = [r for name, r in jobs.items() if name.startswith("part")]
    # CPU per cell, variable and month of reduction (a part minus the interpreter and its imports)
    unit_cpu = sum(r["cpu_s"] - base["cpu_s"] for r in part_runs) / (12 * len(part_runs) * cells * nvars)
    # memory of one month in flight (1 worker: in the job's process), per cell, and as hourly float32 arrays
    unit_mem = (max(r["peak_rss_mb"] for r in part_runs) - base["peak_rss_mb"]) * 2**20 / cells
    arrays = unit_mem / (31 * 24 * 4)
    fixed_unit = sum(jobs[k]["cpu_s"] - base["cpu_s"] for k in ("init", "finalise")) / (cells * nvars * years)
    unit_store = results["stores_mb"] * 1e6 / (cells * nvars * 12 * years)
    print(
        f"\nmeasured: {unit_cpu * 1e9:.0f} CPU ns per cell, variable and month; one month in flight "
        f"{unit_mem / 1e3:.1f} kB per cell = {arrays:.1f} hourly float32 arrays of a 31-day month (model: "
        f"era5_land.MONTH_ARRAYS); stores {unit_store:.1f} bytes per cell, variable and month\n"
        f"one-job peak {one['peak_rss_mb']:.0f} MB for {12 * years} months, 1-year parts up to "
        f"{max(r['peak_rss_mb'] for r in part_runs):.0f} MB: memory does not grow with the part's length"
    )
    eu = EUROPE
    cells = eu["ny"] * eu["nx"]
    count = -(-eu["years"] // eu["part_years"])
    part_cpu = base["cpu_s"] + unit_cpu * 12 * eu["part_years"] * cells * eu["variables"]
    fixed = 2 * base["cpu_s"] + fixed_unit * cells * eu["variables"] * eu["years"]
    total_h = (count * part_cpu + fixed) / 3600
    worker = month_bytes(cells)
    workers = parts.workers_within(eu["mem_mb"] * 2**20, worker, eu["threads"])
    peak_gb = (base["peak_rss_mb"] * 2**20 + workers * worker) / 2**30
    storage_gb = unit_store * cells * eu["variables"] * 12 * eu["years"] / 1e9
    names = eu["variables"] + 1  # and vpd
    days, weeks, months = 365.25 * eu["years"], 52 * eu["years"], 12 * eu["years"]
    plain_gb = 4 * names * cells * (days + 2 * weeks + months / FACTOR_EUROPE**2) / 1e9
    raw_tb = 4 * cells * eu["variables"] * HOURS_PER_MONTH * 12 * eu["years"] / 1e12
    print(
        f"\nEurope preset, ERA5-Land ({eu['ny']} x {eu['nx']} cells, {eu['variables']} variables, "
        f"{eu['years']} years, parts of {eu['part_years']} year; compute.prepare: {eu['threads']} threads, "
        f"{eu['mem_mb']} MB):\n"
        f"  jobs: 1 init + {count} parts + 1 finalise = {count + 2}\n"
        f"  CPU: {part_cpu / 60:.1f} core-minutes per part, {total_h:.1f} core-hours in all (init and finalise "
        f"{fixed / 60:.1f} core-minutes); a part's wall time about {part_cpu / workers / 60:.1f} min with "
        f"{workers} workers, and all parts run in parallel\n"
        f"  peak memory per part job: {peak_gb:.1f} GB ({workers} workers of {worker / 2**30:.1f} GB, the "
        f"model era5_land.month_bytes, + the parent)\n"
        f"  storage: raw hourly input {raw_tb:.1f} TB uncompressed; prepared stores {plain_gb:.0f} GB "
        f"uncompressed, {storage_gb:.0f} GB at the synthetic fields' compression ratio"
    )


def _days(year: int, month: int) -> int:
    import calendar

    return calendar.monthrange(year, month)[1]


def _cores() -> int:
    import os

    return os.cpu_count() or 1


if __name__ == "__main__":
    main()
