"""A tiny prepared world for the simulate/DERE/CSDI tests, written exactly as docs/data-layout.md says.

``make_prepared(root)`` writes ``era5_land_monthly.zarr``, ``pft.zarr``, ``sites.parquet`` and
``insitu_monthly.parquet`` under ``root`` and returns their paths. The in-situ fluxes come from the process
model with different parameters plus noise and gaps, so the process model is biased against them.
``tiny_dataset(root, dere)`` builds the DERE dataset of a 4 x 5 cell, two-year, ten-site world with the
settings of a ``dere`` config section.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import terraflux  # noqa: F401
from terraflux.dere.dataset import build_dataset
from terraflux.simulate.process_model import age_classes, load_parameters, run_process_model

import numpy as np
import pandas as pd
import xarray as xr

NETWORKS = ("FLUXNET2015", "ICOS")
IGBP = ("DBF", "ENF", "GRA")


def make_drivers(ny: int, nx: int, years: tuple[int, ...], seed: int = 0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    time = pd.date_range(f"{years[0]}-01-01", f"{years[-1]}-12-01", freq="MS")
    lat = np.linspace(48.0, 46.0, ny, dtype=np.float64)
    lon = np.linspace(8.0, 11.0, nx, dtype=np.float64)
    month = time.month.values[:, None, None]
    season = -np.cos(2 * np.pi * (month - 1) / 12)
    elev = rng.uniform(0, 1, (1, ny, nx))
    t2m = 273.15 + 8 + 10 * season - 6 * elev + rng.normal(0, 1.5, (len(time), ny, nx))
    d2m = t2m - rng.uniform(2, 8, t2m.shape)
    es = 6.112 * np.exp(17.67 * (t2m - 273.15) / (t2m - 29.65))
    ea = 6.112 * np.exp(17.67 * (d2m - 273.15) / (d2m - 29.65))
    data = {
        "t2m": t2m,
        "d2m": d2m,
        "tp": np.abs(rng.normal(0.003, 0.002, t2m.shape)),
        "ssrd": 1.2e7 + 0.9e7 * season + rng.normal(0, 1e6, t2m.shape),
        "swvl1": np.clip(0.25 + 0.05 * rng.normal(size=t2m.shape) - 0.04 * season, 0.05, 0.45),
        "stl1": t2m + 1.0,
        "vpd": np.maximum(es - ea, 0),
    }
    ds = xr.Dataset(
        {k: (("time", "latitude", "longitude"), v.astype(np.float32), {"units": "-"}) for k, v in data.items()},
        coords={"time": time, "latitude": lat, "longitude": lon},
    )
    land = np.ones((ny, nx), bool)
    land[0, 0] = False
    ds["land_mask"] = (("latitude", "longitude"), land)
    for k in data:
        ds[k] = ds[k].where(ds["land_mask"])
        ds[k].attrs.update(mean=float(ds[k].mean()), std=float(ds[k].std()))
    return ds


def make_pft(ny: int, nx: int, years: tuple[int, ...], seed: int = 1) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    base = rng.dirichlet([0.5, 0.5, 0.5, 0.3], size=(ny, nx))  # sparse: many nearly pure cells
    frac = np.stack([base + rng.normal(0, 0.01, base.shape) for _ in years]).clip(0)
    frac /= frac.sum(-1, keepdims=True)
    da = xr.DataArray(
        frac.transpose(0, 3, 1, 2).astype(np.float32),
        dims=("year", "pft", "latitude", "longitude"),
        coords={"year": list(years), "pft": ["BL", "NL", "GS", "other"]},
    )
    return xr.Dataset({"fraction": da})


def make_prepared(
    root: Path, ny: int = 6, nx: int = 8, years: tuple[int, ...] = (2016, 2017, 2018), n_sites: int = 14, seed: int = 0
) -> dict[str, Path]:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    drivers = make_drivers(ny, nx, years, seed)
    pft = make_pft(ny, nx, years, seed + 1)
    drivers.to_zarr(root / "era5_land_monthly.zarr", zarr_format=3, mode="w")
    pft.to_zarr(root / "pft.zarr", zarr_format=3, mode="w")
    # "true" fluxes: the process model with other parameters
    params = load_parameters()
    values = dict(params.values)
    values["eps_max"] = values["eps_max"] * 1.3
    values["rh_ref"] = values["rh_ref"] * 0.8
    truth = run_process_model(drivers, pft["fraction"], age_classes([0, 30, 80, 150]), replace(params, values=values))
    mixed = (
        truth[["GPP", "RECO", "NEE"]] * truth["pft_fraction"].sel(year=truth["time"].dt.year).drop_vars("year")
    ).sum("pft_group")
    mixed = (mixed * truth["age_weight"]).sum("age_class")
    rng = np.random.default_rng(seed + 2)
    land = np.argwhere(drivers["land_mask"].values)
    picks = land[rng.choice(len(land), n_sites, replace=False)]
    sites, rows = [], []
    for k, (iy, ix) in enumerate(picks):
        site = f"S{k:02d}"
        sites.append(
            {
                "site_id": site,
                "latitude": float(drivers.latitude[iy]),
                "longitude": float(drivers.longitude[ix]),
                "elevation": 500.0,
                "igbp": IGBP[k % 3],
                "network": NETWORKS[k % 2],
                "cell_latitude": float(drivers.latitude[iy]),
                "cell_longitude": float(drivers.longitude[ix]),
                "cell_iy": int(iy),
                "cell_ix": int(ix),
            }
        )
        series = mixed.isel(latitude=iy, longitude=ix)
        observed = rng.random(series.sizes["time"]) > 0.3
        for t, when in enumerate(series["time"].values):
            row = {"site_id": site, "time": pd.Timestamp(when), "coverage": 0.9 if observed[t] else 0.0}
            for v in ("GPP", "RECO", "NEE"):
                row[v] = float(series[v].values[t] + rng.normal(0, 0.1)) if observed[t] else np.nan
            rows.append(row)
    pd.DataFrame(sites).to_parquet(root / "sites.parquet")
    pd.DataFrame(rows).to_parquet(root / "insitu_monthly.parquet")
    return {
        "drivers": root / "era5_land_monthly.zarr",
        "pft": root / "pft.zarr",
        "sites": root / "sites.parquet",
        "insitu": root / "insitu_monthly.parquet",
    }


def tiny_dataset(root: Path, dere: dict) -> xr.Dataset:
    """The DERE dataset (:func:`terraflux.dere.dataset.build_dataset`) of a 4 x 5 cell world, 2016-2017, ten
    sites, with the dataset and split settings of ``dere`` (a config ``dere`` section) and seed 3."""
    p = make_prepared(root, ny=4, nx=5, years=(2016, 2017), n_sites=10)
    drivers, pft = xr.open_zarr(p["drivers"]).load(), xr.open_zarr(p["pft"]).load()
    process = run_process_model(drivers, pft["fraction"], age_classes([0, 30, 150]), load_parameters())
    d = dere["dataset"]
    return build_dataset(
        drivers,
        pft,
        process,
        pd.read_parquet(p["sites"]),
        pd.read_parquet(p["insitu"]),
        pure_threshold=d["pure_threshold"],
        cell_val=d["cell_val_fraction"],
        cell_test=d["cell_test_fraction"],
        n_folds=dere["split"]["folds"],
        seed=3,
    )
