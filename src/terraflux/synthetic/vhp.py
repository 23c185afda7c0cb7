"""NOAA VHP from the synthetic world: weekly VHI, VCI and TCI, written by :mod:`terraflux.sources.vhp.write`.

The files hold the pixels of the global VHP grid whose centres lie inside the region
(:func:`.grids.vhp_grid`). VHI is below 26 exactly inside the world's extreme events (:mod:`.extremes`) and
28..95 elsewhere, following the soil's wetness and heat; VHI = (VCI + TCI) / 2; sea pixels are fill values.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from terraflux.sources.vhp import write
from terraflux.synthetic.extremes import WEEKS, masks_for_week, week_start
from terraflux.synthetic.grids import vhp_grid
from terraflux.synthetic.land import sea_score
from terraflux.synthetic.weather import Points, Weather

import numpy as np


def vhi_weeks(world, year: int, weeks: list[int], points: Points) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(VHI, VCI, TCI) float32 [W, P] at ``points`` for weeks of ``year``: VHI < 26 exactly inside the events,
    28..95 elsewhere; VHI = (VCI + TCI) / 2."""
    mids = [week_start(year, week) + dt.timedelta(days=3) for week in weeks]
    hours = np.array([(mid - dt.date(1970, 1, 1)).days * 24 + 12 for mid in mids], dtype=np.int64)
    w = Weather(points, hours)
    wet, heat = w.process("wet_soil"), w.process("heat_soil")
    base = 58.0 + 9.0 * wet - 6.0 * heat + 6.0 * world.field("vhi")(points.lat, points.lon)[None, :]
    base = np.clip(base, 28.0, 95.0)
    vhi = np.empty(base.shape, dtype=np.float32)
    for k, week in enumerate(weeks):
        ext, depth = masks_for_week(world, (year - world.spec.years[0]) * WEEKS + week - 1, points.lat, points.lon)
        vhi[k] = np.where(ext, 25.0 - 15.0 * depth, base[k])
    delta = (4.0 * np.tanh(heat)).astype(np.float32)
    delta = np.minimum(np.abs(delta), np.minimum(vhi, 100 - vhi)) * np.sign(delta)
    return vhi, (vhi + delta).astype(np.float32), (vhi - delta).astype(np.float32)


def write_year(paths: dict[int, str | Path], world, year: int, satellite: str) -> None:
    """Weekly NOAA VHP files of ``year`` over the region (``paths``: week -> file)."""
    grid, _, _ = vhp_grid(world.spec.region)
    lat, lon = grid.mesh()
    points = Points(world, lat, lon)
    weeks = sorted(paths)
    vhi, vci, tci = (a.reshape((len(weeks),) + grid.shape) for a in vhi_weeks(world, year, weeks, points))
    sea = sea_score(world, lat, lon) < world.scalars["sea_threshold"]
    for k, week in enumerate(weeks):
        write.week_file(
            paths[week],
            grid.lat,
            grid.lon,
            {"VCI": vci[k], "TCI": tci[k], "VHI": vhi[k]},
            sea,
            satellite,
            year,
            week,
            week_start(year, week),
        )
