"""The ground truth of the synthetic world, on the ERA5-Land grid (read by evaluation only).

- ``land``: ``pft_fraction(year, pft, latitude, longitude)`` (BL, NL, GS, other; share of the cell's
  land (non-water) 300 m pixels), ``forest_age(year, latitude, longitude)`` years,
  ``land_mask(latitude, longitude)``.
- ``fluxes``: monthly ``GPP``, ``RECO``, ``NEE(time, latitude, longitude)`` gC m-2 d-1 (mean of daily
  sums of the hidden parameterisation, PFT-fraction weighted; NaN over sea); time = first of month.
- ``sites``: the true site table.
- ``extremes``: weekly ``extreme(time, latitude, longitude)``, ``driver`` and ``distractor``
  ``(variable, time, latitude, longitude)``, ``coupled(variable)``; time = first day of each week.
- ``extremes_cerra``: the same on the CERRA sub-grid ``(time, y, x)`` (x, y in metres, 2-D latitude and
  longitude) for the CERRA variables (cfgrib names): a CERRA variable carries the anomalies of the
  ERA5-Land variables it is computed from (r2: t2m and d2m; vsw: swvl1; al: fal; si10: u10 and v10).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from terraflux.outputs import write_parquet, write_zarr
from terraflux.sources import cerra
from terraflux.sources.insitu import UMOL_CO2_TO_GC_PER_DAY
from terraflux.synthetic import fluxes as flux_model
from terraflux.synthetic.cerra import QUANTITIES
from terraflux.synthetic.era5_land import month_hours
from terraflux.synthetic.extremes import WEEKS, truth_masks, week_start
from terraflux.synthetic.land import PFTS
from terraflux.synthetic.weather import Weather

import numpy as np
import pandas as pd
import xarray as xr

SITE_COLUMNS = [
    "site_id",
    "latitude",
    "longitude",
    "elevation",
    "igbp",
    "pft",
    "network",
    "cell_latitude",
    "cell_longitude",
    "cell_iy",
    "cell_ix",
    "first_year",
    "last_year",
]


def _coords(world) -> dict:
    grid = world.era5_grid
    return {
        "latitude": ("latitude", grid.lat, {"units": "degrees_north", "standard_name": "latitude"}),
        "longitude": ("longitude", grid.lon, {"units": "degrees_east", "standard_name": "longitude"}),
    }


def _finish(ds: xr.Dataset, provenance: dict, path: str | Path, crs: str = "EPSG:4326") -> None:
    import rioxarray  # noqa: F401  (registers the .rio accessor)

    ds = ds.rio.write_crs(crs)
    ds.attrs["source"] = "terraflux synthetic world (ground truth)"
    write_zarr(path, ds, provenance)


def land_dataset(world) -> xr.Dataset:
    years = np.array(world.spec.years, dtype=np.int32)
    return xr.Dataset(
        {
            "pft_fraction": (
                ("year", "pft", "latitude", "longitude"),
                world.arrays["pft_fraction"].astype(np.float32),
                {"units": "1", "long_name": "true share of the land (non-water) 300 m pixels per PFT group"},
            ),
            "forest_age": (
                ("year", "latitude", "longitude"),
                world.arrays["forest_age"].astype(np.float32),
                {"units": "years", "long_name": "mean forest age"},
            ),
            "land_mask": (
                ("latitude", "longitude"),
                world.land_mask.astype(bool),
                {"long_name": "land (less than half sea)"},
            ),
        },
        coords={"year": ("year", years), "pft": ("pft", np.array(PFTS, dtype=object)), **_coords(world)},
    )


def monthly_fluxes(world) -> xr.Dataset:
    """True monthly fluxes, computed month by month from hourly weather (float32 accumulators only)."""
    grid = world.era5_grid
    points = world.points("era5_land", *grid.mesh())
    months = [(y, m) for y in world.spec.years for m in range(1, 13)]
    out = {k: np.full((len(months),) + grid.shape, np.nan, dtype=np.float32) for k in ("GPP", "RECO", "NEE")}
    land = world.land_mask
    for i, (year, month) in enumerate(months):
        weather = Weather(points, month_hours(year, month) + 1)  # hours ending inside the month
        y = world.spec.years.index(year)
        flux = flux_model.cell_fluxes(
            weather, world.arrays["pft_fraction"][y].reshape(4, -1), world.arrays["forest_age"][y].ravel()
        )
        for k in out:
            mean = flux[k].mean(axis=0).reshape(grid.shape) * UMOL_CO2_TO_GC_PER_DAY
            out[k][i] = np.where(land, mean, np.nan)
    time = pd.to_datetime([dt.date(y, m, 1) for y, m in months])
    attrs = {"units": "gC m-2 d-1"}
    names = {"GPP": "gross primary production", "RECO": "ecosystem respiration", "NEE": "net ecosystem exchange"}
    return xr.Dataset(
        {k: (("time", "latitude", "longitude"), v, dict(attrs, long_name=f"true {names[k]}")) for k, v in out.items()},
        coords={"time": ("time", time), **_coords(world)},
    )


def extremes_dataset(world) -> xr.Dataset:
    variables = list(world.spec.variables)
    masks = truth_masks(world, variables)
    time = pd.to_datetime([week_start(y, w) for y in world.spec.years for w in range(1, WEEKS + 1)])
    coupled = np.array([v in world.spec.knobs["coupled_variables"] for v in variables])
    return xr.Dataset(
        {
            "extreme": (
                ("time", "latitude", "longitude"),
                masks["extreme"],
                {"long_name": "extreme event (VHI < 26 by construction)"},
            ),
            "driver": (
                ("variable", "time", "latitude", "longitude"),
                masks["driver"],
                {"long_name": "true driver anomaly"},
            ),
            "distractor": (
                ("variable", "time", "latitude", "longitude"),
                masks["distractor"],
                {"long_name": "anomaly that drives nothing"},
            ),
            "coupled": (("variable",), coupled, {"long_name": "variable drives the extremes"}),
        },
        coords={
            "variable": ("variable", np.array(variables, dtype=object)),
            "time": ("time", time),
            "year": ("time", np.repeat(world.spec.years, WEEKS).astype(np.int32)),
            "week": ("time", np.tile(np.arange(1, WEEKS + 1), len(world.spec.years)).astype(np.int32)),
            **_coords(world),
        },
    )


#: CERRA quantity (weather name) -> the ERA5-Land variables whose injected anomalies it carries.
CERRA_ANOMALY_SOURCES = {"rh": ("t2m", "d2m"), "wind": ("u10", "v10"), "cloud": ()}


def extremes_cerra_dataset(world, cerra_variables) -> xr.Dataset:
    """Weekly truth on the CERRA sub-grid the synthetic CERRA files cover."""
    from terraflux.synthetic.grids import cerra_grid
    from terraflux.synthetic.land import sea_score

    grid = cerra_grid(world.spec.region)
    lat, lon = grid.latlon()
    land = sea_score(world, lat, lon) >= world.scalars["sea_threshold"]
    names = [v.short for v in cerra_variables]
    quantities = {v.short: QUANTITIES[v.short][0] for v in cerra_variables}
    sources = {n: CERRA_ANOMALY_SOURCES.get(q, (q,)) for n, q in quantities.items()}
    masks = truth_masks(world, names, lat, lon, land, sources)
    coupled = np.array([any(s in world.spec.knobs["coupled_variables"] for s in sources[n]) for n in names])
    time = pd.to_datetime([week_start(y, w) for y in world.spec.years for w in range(1, WEEKS + 1)])
    return xr.Dataset(
        {
            "extreme": (
                ("time", "y", "x"),
                masks["extreme"],
                {"long_name": "extreme event (VHI < 26 by construction)"},
            ),
            "driver": (("variable", "time", "y", "x"), masks["driver"], {"long_name": "true driver anomaly"}),
            "distractor": (
                ("variable", "time", "y", "x"),
                masks["distractor"],
                {"long_name": "anomaly that drives nothing"},
            ),
            "coupled": (("variable",), coupled, {"long_name": "variable drives the extremes"}),
            "land_mask": (("y", "x"), land, {"long_name": "land"}),
        },
        coords={
            "variable": ("variable", np.array(names, dtype=object)),
            "time": ("time", time),
            "year": ("time", np.repeat(world.spec.years, WEEKS).astype(np.int32)),
            "week": ("time", np.tile(np.arange(1, WEEKS + 1), len(world.spec.years)).astype(np.int32)),
            "y": ("y", grid.y, {"units": "m", "standard_name": "projection_y_coordinate"}),
            "x": ("x", grid.x, {"units": "m", "standard_name": "projection_x_coordinate"}),
            "latitude": (("y", "x"), lat, {"units": "degrees_north"}),
            "longitude": (("y", "x"), lon, {"units": "degrees_east"}),
        },
    )


def sites_table(world) -> pd.DataFrame:
    return pd.DataFrame(world.tables["sites"])[SITE_COLUMNS]


def write_all(
    world, land: str, fluxes: str, sites: str, extremes: str, extremes_cerra: str, cerra_variables, provenance: dict
) -> None:
    """Write the truth outputs (each to the given path; callers make them atomic)."""
    _finish(land_dataset(world), provenance, land)
    _finish(monthly_fluxes(world), provenance, fluxes)
    _finish(extremes_dataset(world), provenance, extremes)
    _finish(extremes_cerra_dataset(world, cerra_variables), provenance, extremes_cerra, crs=cerra.PROJ4)
    write_parquet(sites, sites_table(world), provenance)
