"""Reading the model stages' outputs into what the evaluation compares (see docs/data-layout.md).

- site predictions ``results/{run}/dere/<stage>/predictions.parquet``: site_id, time, GPP, RECO, NEE
  (gC m-2 d-1), optional ``split``; paired with the prepared in-situ table (observations) or, in the
  synthetic world, with the true fluxes at each site's true cell.
- map predictions ``results/{run}/dere/<stage>/predictions.zarr``: GPP, RECO, NEE (time, latitude,
  longitude) on the model grid.
- the process model's cell fluxes from ``resources/{run}/process_model.zarr`` (per PFT group and age class,
  fused with the PFT fractions and age weights).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from terraflux.errors import DataError

import numpy as np
import pandas as pd
import xarray as xr

FLUXES = ("GPP", "RECO", "NEE")
FLUX_UNITS = "gC m-2 d-1"


def _read_parquet(path, columns: Sequence[str], what: str) -> pd.DataFrame:
    if not Path(path).exists():
        raise DataError(f"{path} not found: {what} (run the stage that writes it)")
    frame = pd.read_parquet(path)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path} lacks columns {missing} ({what}); see docs/data-layout.md")
    return frame


def site_pairs(
    predictions: Mapping[str, str | Path],
    observations: str | Path,
    sites: str | Path,
    *,
    years: Sequence[int] | None = None,
    variables: Sequence[str] = FLUXES,
) -> pd.DataFrame:
    """Long table of predicted vs observed monthly fluxes at the sites each model predicted.

    ``predictions``: model label -> predictions.parquet. Rows with ``split`` other than 'test' are dropped
    when that column exists; ``years`` keeps only those years. Returns columns site_id, time, model,
    variable, network, igbp, prediction, observation.
    """
    obs = _read_parquet(observations, ["site_id", "time", *variables], "monthly in-situ fluxes")
    meta = _read_parquet(sites, ["site_id", "network", "igbp"], "site table")[["site_id", "network", "igbp"]]
    obs = obs.assign(time=pd.to_datetime(obs["time"]))
    obs_long = obs.melt(
        id_vars=["site_id", "time"], value_vars=list(variables), var_name="variable", value_name="observation"
    )
    parts = []
    for label, path in predictions.items():
        pred = _read_parquet(path, ["site_id", "time", *variables], f"site predictions of {label}")
        if "split" in pred.columns:
            pred = pred[pred["split"] == "test"]
        pred = pred.assign(time=pd.to_datetime(pred["time"]))
        if years is not None:
            pred = pred[pred["time"].dt.year.isin(list(years))]
        long = pred.melt(
            id_vars=["site_id", "time"], value_vars=list(variables), var_name="variable", value_name="prediction"
        )
        parts.append(long.assign(model=label))
    if not parts:
        raise DataError("no model predictions to evaluate (config evaluate.dere_stages is empty)")
    pairs = pd.concat(parts, ignore_index=True).merge(obs_long, on=["site_id", "time", "variable"], how="left")
    return pairs.merge(meta, on="site_id", how="left")


def truth_pairs(pairs: pd.DataFrame, truth_fluxes: str | Path, truth_sites: str | Path) -> pd.DataFrame:
    """The same pairs with ``observation`` replaced by the true flux at each site's true cell (synthetic
    world: a complete, noise-free reference)."""
    sites = _read_parquet(truth_sites, ["site_id"], "true site table")
    lat_col = next((c for c in ("cell_latitude", "true_cell_latitude", "latitude", "lat") if c in sites.columns), None)
    lon_col = next(
        (c for c in ("cell_longitude", "true_cell_longitude", "longitude", "lon") if c in sites.columns), None
    )
    if lat_col is None or lon_col is None:
        raise DataError(f"{truth_sites} has no site coordinates (latitude/longitude columns)")
    truth = xr.open_zarr(truth_fluxes)
    rows = []
    wanted = set(pairs["site_id"])
    for _, site in sites[sites["site_id"].isin(wanted)].iterrows():
        cell = truth.sel(latitude=site[lat_col], longitude=site[lon_col], method="nearest")
        frame = cell[[v for v in FLUXES if v in cell]].to_dataframe().reset_index()
        frame = frame.assign(
            site_id=site["site_id"], time=pd.to_datetime(frame["time"]).dt.to_period("M").dt.to_timestamp()
        )
        rows.append(
            frame.melt(
                id_vars=["site_id", "time"],
                value_vars=[v for v in FLUXES if v in frame],
                var_name="variable",
                value_name="observation",
            )
        )
    true_long = (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame(columns=["site_id", "time", "variable", "observation"])
    )
    out = pairs.drop(columns="observation").assign(time=pairs["time"].dt.to_period("M").dt.to_timestamp())
    return out.merge(true_long, on=["site_id", "time", "variable"], how="left")


def cell_truth_pairs(
    maps: Mapping[str, str | Path],
    truth_fluxes: str | Path,
    *,
    split: str = "test",
    years: Sequence[int] | None = None,
    variables: Sequence[str] = FLUXES,
) -> pd.DataFrame:
    """Predicted vs true monthly fluxes at every cell of one split (synthetic world: held-out cells).

    ``maps``: model label -> predictions.zarr (``GPP, RECO, NEE(time, latitude, longitude)`` and the cells'
    ``split(latitude, longitude)``); the truth (fine grid) is block-averaged onto the model grid. ``years``
    keeps only those years. Returns the columns of :func:`site_pairs` with ``site_id`` naming the cell
    ("lat,lon") and empty ``network`` / ``igbp``.
    """
    truth = xr.open_zarr(truth_fluxes)
    parts = []
    for label, path in maps.items():
        pred = xr.open_zarr(path, consolidated=False)
        if "split" not in pred:
            raise DataError(f"{path} has no 'split' variable of the cells; rebuild it with rule dere_predict")
        if years is not None:
            pred = pred.sel(time=pred["time"].dt.year.isin(list(years)))
        iy, ix = np.nonzero(pred["split"].values == split)
        if iy.size == 0:
            raise DataError(f"{path} has no cell of split {split!r}")
        lat, lon = pred["latitude"].values, pred["longitude"].values
        cells = np.array([f"{lat[i]:.4f},{lon[j]:.4f}" for i, j in zip(iy, ix, strict=True)])
        times = pd.to_datetime(pred["time"].values).to_period("M").to_timestamp()
        for var in [v for v in variables if v in pred and v in truth]:
            true = block_mean_to(truth[var], lat, lon)
            true = true.assign_coords(time=pd.to_datetime(true["time"].values).to_period("M").to_timestamp()).sel(
                time=times
            )
            p, t = pred[var].values[:, iy, ix], true.values[:, iy, ix]  # (time, cell)
            parts.append(
                pd.DataFrame(
                    {
                        "site_id": np.tile(cells, len(times)),
                        "time": np.repeat(times, cells.size),
                        "model": label,
                        "variable": var,
                        "prediction": p.ravel(),
                        "observation": t.ravel(),
                        "network": "",
                        "igbp": "",
                    }
                )
            )
    if not parts:
        raise DataError("no model maps to compare with the truth")
    return pd.concat(parts, ignore_index=True)


def process_cell_fluxes(process_model: xr.Dataset, variables: Sequence[str] = FLUXES) -> xr.Dataset:
    """Cell-level fluxes of the process model: sum over age classes of age_weight x sum over PFT groups
    of pft_fraction(age, year) x flux(group, age). Returns (time, latitude, longitude) in gC m-2 d-1."""
    pm = process_model
    frac = pm["pft_fraction"]
    if "year" in frac.dims:
        frac = frac.sel(year=pm["time"].dt.year).drop_vars("year", errors="ignore")
    out = xr.Dataset()
    for var in variables:
        fused = (pm[var] * frac).sum("pft_group", skipna=False)
        out[var] = (fused * pm["age_weight"]).sum("age_class", skipna=False).transpose("time", "latitude", "longitude")
        out[var].attrs["units"] = pm[var].attrs.get("units", FLUX_UNITS)
    return out


def block_mean_to(fine: xr.DataArray, lat, lon) -> xr.DataArray:
    """Average a fine (time, latitude, longitude) field onto a coarser regular grid: every fine cell goes
    to the nearest coarse cell (block means when the grids nest)."""
    lat, lon = np.asarray(lat), np.asarray(lon)
    iy = np.abs(fine["latitude"].values[:, None] - lat[None, :]).argmin(axis=1)
    ix = np.abs(fine["longitude"].values[:, None] - lon[None, :]).argmin(axis=1)
    values = fine.transpose("time", "latitude", "longitude").values.astype(np.float64)
    total = np.zeros((values.shape[0], lat.size, lon.size))
    count = np.zeros((lat.size, lon.size))
    ok = np.isfinite(values)
    np.add.at(total, (slice(None), iy[:, None], ix[None, :]), np.where(ok, values, 0.0))
    np.add.at(count, (iy[:, None], ix[None, :]), ok.all(axis=0).astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / count, np.nan)
    return xr.DataArray(
        mean,
        dims=("time", "latitude", "longitude"),
        coords={"time": fine["time"].values, "latitude": lat, "longitude": lon},
        attrs=fine.attrs,
    )
