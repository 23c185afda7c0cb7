"""Coarse/fine pairs for downscaling on the fine grid, split by time, normalised with training statistics.

A pair is two prepared stores of one period: the coarse one (regular latitude/longitude grid, e.g.
``era5_land_weekly.zarr``) and the fine one (``cerra_weekly.zarr`` on CERRA's Lambert grid, or a regular
grid). When both name the same store, the coarse field is made from the fine one by block means of
``coarsen_factor`` points per side (a coarsened ERA5-Land -> ERA5-Land pair). Each variable of the pair
has a coarse name, a fine name and a factor from the coarse store's units to the fine store's. The stores may
be cut to the pair's years and to a window of the fine grid (:func:`open_pair`).

The coarse field is interpolated to the fine grid's points (bilinear and bicubic, on the coarse grid with
its gaps filled from the nearest valid point); the model stages learn the residual fine - bilinear.
Statistics (per variable: mean and std of the coarse field, of the fine field and of the residual, and the
per-pixel mean residual) come from the training times only.

Dataset layout (``dataset.zarr``): ``fine``, ``bilinear``, ``bicubic`` ``(variable, time, y, x)`` in the
fine store's units; ``coarse(variable, time, cy, cx)``; ``residual_mean(variable, y, x)``; ``mask(y, x)``
(fine points with data); ``split(time)`` (train/val/test); 2-D ``latitude``, ``longitude``; 1-D ``y``, ``x``
(metres on a projected grid, degrees on a latitude/longitude one: attribute ``grid_kind``); per-variable
statistics in the attribute ``stats``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from terraflux.errors import ConfigError, DataError

import numpy as np
import pandas as pd
import xarray as xr
from scipy import ndimage
from scipy.interpolate import RegularGridInterpolator

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class PairVariable:
    """One variable of a pair: its name in the coarse and the fine store and the coarse -> fine unit factor."""

    coarse: str
    fine: str
    factor: float = 1.0


def pair_variables(entries: Sequence[Mapping]) -> list[PairVariable]:
    """Config ``downscale.variables`` as :class:`PairVariable` (at least one)."""
    if not entries:
        raise ConfigError("config `downscale.variables` is empty: name at least one coarse/fine variable pair")
    return [PairVariable(str(e["coarse"]), str(e["fine"]), float(e.get("factor", 1.0))) for e in entries]


def store_variable(ds: xr.Dataset, name: str, path: str) -> xr.DataArray:
    """Variable ``name`` of a prepared store: ``name`` itself (daily stores) or ``{name}_mean`` (weekly)."""
    for key in (name, f"{name}_mean"):
        if key in ds:
            return ds[key]
    raise DataError(
        f"{path} has no variable {name!r} (nor {name}_mean); fix config `downscale.variables` "
        f"(the store holds {sorted(ds.data_vars)})"
    )


def fill_nearest(field: np.ndarray) -> np.ndarray:
    """``field`` [..., y, x] with each NaN replaced by the value of the nearest valid point of its 2-D slice."""
    out = np.array(field, dtype=np.float64)
    flat = out.reshape(-1, *out.shape[-2:])
    for k, frame in enumerate(flat):
        bad = ~np.isfinite(frame)
        if bad.all():
            raise DataError("a coarse field has no valid point; check the coarse store of `downscale.coarse`")
        if bad.any():
            _, (iy, ix) = ndimage.distance_transform_edt(bad, return_indices=True)
            flat[k] = frame[iy, ix]
    return out


def interpolate(coarse: np.ndarray, lat: np.ndarray, lon: np.ndarray, to_lat, to_lon, method: str) -> np.ndarray:
    """Interpolate fields [t, cy, cx] on a regular grid (``lat`` [cy], ``lon`` [cx], any order) to points
    ``to_lat``, ``to_lon`` [y, x] (degrees); ``method`` linear (bilinear) or cubic (bicubic); points outside
    the coarse grid take the value at the nearest edge of the grid (no extrapolation). Gaps are filled from
    the nearest valid point first. Returns [t, y, x]."""
    filled = fill_nearest(coarse)
    ly, lx = np.argsort(lat), np.argsort(lon)
    filled = filled[:, ly][:, :, lx]
    clamp = lambda v, c: np.clip(np.ravel(v), c.min(), c.max())  # noqa: E731
    points = np.stack([clamp(to_lat, lat), clamp(to_lon, lon)], axis=-1)
    out = np.empty((filled.shape[0], *np.shape(to_lat)), dtype=np.float32)
    for t, frame in enumerate(filled):
        f = RegularGridInterpolator((lat[ly], lon[lx]), frame, method=method)
        out[t] = f(points).reshape(np.shape(to_lat))
    return out


def block_mean(fields: np.ndarray, factor: int) -> np.ndarray:
    """Means over blocks of ``factor`` x ``factor`` points of fields [t, y, x] (NaN ignored; trailing rows and
    columns that do not fill a block are dropped; at least 4 blocks per side). Returns [t, y // factor, x // factor]."""
    t, ny, nx = fields.shape
    by, bx = ny // factor, nx // factor
    if by < 4 or bx < 4:
        raise ConfigError(
            f"config `downscale.coarsen_factor` {factor} leaves fewer than 4 x 4 coarse points (bicubic needs 4) "
            f"of the {ny} x {nx} fine grid; use a smaller factor"
        )
    blocks = fields[:, : by * factor, : bx * factor].reshape(t, by, factor, bx, factor)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # blocks without data: NaN
        return np.nanmean(blocks, axis=(2, 4))


def pair_years(period: Mapping, cfg: Mapping) -> dict:
    """The pair's ``start_year``/``end_year`` (config ``downscale.start_year``/``end_year``, else the period's)
    and ``train_years``/``val_years``/``test_years``: config ``downscale.train_years`` and ``test_years``
    where given, else those of config ``period``; ``val_years`` are the period's not used by either."""
    train = [int(y) for y in cfg.get("train_years") or period["train_years"]]
    test = [int(y) for y in cfg.get("test_years") or period["test_years"]]
    val = [int(y) for y in period["val_years"] if int(y) not in train + test]
    start, end = (cfg.get(key) or period.get(key) for key in ("start_year", "end_year"))
    return {"start_year": start, "end_year": end, "train_years": train, "val_years": val, "test_years": test}


def memory_bytes(n_time: int, n_variables: int, ny: int, nx: int, feature_channels: int, n_members: int) -> int:
    """Bytes of the arrays the largest downscaling stage (``downscale_predict``) holds at once, all float32
    ``[time, y, x]`` planes: the dataset's fine, bilinear and bicubic fields and the normalised frames (coarse,
    fine, residual, bilinear) per variable, the frozen encoder's ``feature_channels`` and ``n_members``
    reconstructions per variable. A lower bound: the models and temporaries come on top."""
    planes = 7 * n_variables + feature_channels + n_members * n_variables
    return 4 * n_time * ny * nx * planes


def time_splits(times: np.ndarray, period: Mapping) -> np.ndarray:
    """``train``/``val``/``test`` per time step from ``period`` (``train_years`` ..., :func:`pair_years`);
    other years ''."""
    years = pd.DatetimeIndex(times).year
    split = np.full(len(times), "", dtype=object)
    for name in SPLITS:
        split[np.isin(years, [int(y) for y in period[f"{name}_years"]])] = name
    if not (split == "train").any():
        raise ConfigError(
            "config `downscale.train_years` (or `period.train_years`) selects no time step of the downscaling pair"
        )
    return split.astype(str)


def seasons(times) -> np.ndarray:
    """Meteorological season (DJF, MAM, JJA, SON) of each time."""
    names = np.array(["DJF", "DJF", "MAM", "MAM", "MAM", "JJA", "JJA", "JJA", "SON", "SON", "SON", "DJF"])
    return names[pd.DatetimeIndex(times).month - 1]


def _fine_grid(ds: xr.Dataset) -> tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[str, str]]:
    """Grid kind, 1-D y and x, 2-D latitude and longitude and the spatial dims of a prepared store."""
    if "y" in ds.dims and "x" in ds.dims:
        return "projected", ds["y"].values, ds["x"].values, ds["latitude"].values, ds["longitude"].values, ("y", "x")
    lat, lon = ds["latitude"].values, ds["longitude"].values
    lat2, lon2 = np.meshgrid(lat, lon, indexing="ij")
    return "latlon", lat, lon, lat2, lon2, ("latitude", "longitude")


def _cut_window(ds: xr.Dataset, window: Sequence[int] | None, path: str) -> xr.Dataset:
    """``ds`` cut to config ``downscale.window`` ``[x_start, x_stop, y_start, y_stop]`` (grid indices)."""
    if window is None:
        return ds
    dims = _fine_grid(ds)[-1]
    x0, x1, y0, y1 = (int(v) for v in window)
    ny, nx = ds.sizes[dims[0]], ds.sizes[dims[1]]
    if not (0 <= x0 < x1 <= nx and 0 <= y0 < y1 <= ny):
        raise ConfigError(
            f"config `downscale.window` {list(window)} is not a window [x_start, x_stop, y_start, y_stop] of the "
            f"{ny} x {nx} (y x x) grid of {path}: give start < stop within the grid"
        )
    return ds.isel({dims[0]: slice(y0, y1), dims[1]: slice(x0, x1)})


def _around(coarse: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Indices of the 1-D coarse coordinate ``coarse`` within [lo, hi] widened by two cells."""
    cell = float(np.abs(np.diff(coarse)).max()) if coarse.size > 1 else 0.0
    return np.flatnonzero((coarse >= lo - 2 * cell) & (coarse <= hi + 2 * cell))


def open_pair(
    coarse_path: str, fine_path: str, years: Mapping, window: Sequence[int] | None = None
) -> tuple[xr.Dataset, xr.Dataset]:
    """The fine and the coarse store of a pair, lazily: the fine one cut to the years ``start_year`` ..
    ``end_year`` of ``years`` (:func:`pair_years`; absent or None: no cut) and to ``window``; the coarse one
    (the same object for a coarsened pair) cut to the fine time steps and to the window's latitude/longitude
    bounds with a margin of two coarse cells."""
    fine_ds = xr.open_zarr(fine_path, consolidated=False)
    start, end = years.get("start_year"), years.get("end_year")
    if start is not None or end is not None:
        held = fine_ds["time"].dt.year.values
        fine_ds = fine_ds.sel(time=slice(*(None if y is None else str(y) for y in (start, end))))  # whole years
        if not fine_ds.sizes["time"]:
            raise ConfigError(
                f"{fine_path} has no time step in config `downscale.start_year`..`end_year` ({start}..{end}); "
                f"it holds {held.min()}..{held.max()}: choose years within them"
            )
    fine_ds = _cut_window(fine_ds, window, fine_path)
    if str(coarse_path) == str(fine_path):
        return fine_ds, fine_ds
    coarse_ds = xr.open_zarr(coarse_path, consolidated=False)
    times = fine_ds["time"].values
    missing = np.setdiff1d(times, coarse_ds["time"].values)
    if missing.size:
        raise DataError(
            f"{coarse_path} lacks {missing.size} time step(s) of {fine_path} (first {missing[0]}); "
            "the pair must share one time axis: use stores of the same frequency in `downscale.coarse/fine`"
        )
    coarse_ds = coarse_ds.sel(time=times)
    if window is not None:
        lat2, lon2 = _fine_grid(fine_ds)[3:5]
        coarse_ds = coarse_ds.isel(
            latitude=_around(coarse_ds["latitude"].values, lat2.min(), lat2.max()),
            longitude=_around(coarse_ds["longitude"].values, lon2.min(), lon2.max()),
        )
    return fine_ds, coarse_ds


def grid_size(ds: xr.Dataset) -> tuple[int, int]:
    """Points (y, x) of a prepared store's grid."""
    dims = _fine_grid(ds)[-1]
    return ds.sizes[dims[0]], ds.sizes[dims[1]]


def build_pair(
    coarse_path: str,
    fine_path: str,
    variables: Sequence[PairVariable],
    period: Mapping,
    coarsen_factor: int,
    window: Sequence[int] | None = None,
) -> xr.Dataset:
    """The downscaling dataset (module docstring) from a coarse and a fine prepared store; ``period``: the
    pair's years (:func:`pair_years`), ``window``: config ``downscale.window`` (:func:`open_pair`)."""
    fine_ds, coarse_ds = open_pair(coarse_path, fine_path, period, window)
    same = coarse_ds is fine_ds
    kind, y, x, lat2, lon2, dims = _fine_grid(fine_ds)
    times = fine_ds["time"].values
    split = time_splits(times, period)
    fine, coarse, bil, bic = [], [], [], []
    for var in variables:
        f = store_variable(fine_ds, var.fine, fine_path).transpose("time", *dims).values.astype(np.float32)
        if same:
            c = block_mean(store_variable(coarse_ds, var.coarse, coarse_path).values * var.factor, coarsen_factor)
            clat = block_mean(lat2[None], coarsen_factor)[0][:, 0]
            clon = block_mean(lon2[None], coarsen_factor)[0][0]
        else:
            c = store_variable(coarse_ds, var.coarse, coarse_path).transpose("time", "latitude", "longitude")
            c = c.values * var.factor
            clat, clon = coarse_ds["latitude"].values, coarse_ds["longitude"].values
        fine.append(f)
        coarse.append(c.astype(np.float32))
        bil.append(interpolate(c, clat, clon, lat2, lon2, "linear"))
        bic.append(interpolate(c, clat, clon, lat2, lon2, "cubic"))
    fine, coarse, bil, bic = (np.stack(a) for a in (fine, coarse, bil, bic))
    mask = np.isfinite(fine).all(axis=(0, 1))
    if not mask.any():
        raise DataError(f"{fine_path}: no fine point has data at every time step for the pair's variables")
    train = split == "train"
    residual = fine - bil
    stats = {}
    for k, var in enumerate(variables):
        r, f, cc = residual[k][train][:, mask], fine[k][train][:, mask], coarse[k][train]
        stats[var.fine] = {
            "coarse_mean": float(np.nanmean(cc)),
            "coarse_std": float(np.nanstd(cc)) or 1.0,
            "fine_mean": float(f.mean()),
            "fine_std": float(f.std()) or 1.0,
            "residual_std": float(r.std()) or 1.0,
        }
    residual_mean = np.where(mask, np.nan_to_num(residual[:, train]).mean(axis=1), np.nan).astype(np.float32)
    names = [v.fine for v in variables]
    ds = xr.Dataset(
        {
            "fine": (("variable", "time", "y", "x"), fine),
            "bilinear": (("variable", "time", "y", "x"), bil),
            "bicubic": (("variable", "time", "y", "x"), bic),
            "coarse": (("variable", "time", "cy", "cx"), coarse),
            "residual_mean": (("variable", "y", "x"), residual_mean),
            "mask": (("y", "x"), mask),
            "split": (("time",), split),
        },
        coords={
            "variable": names,
            "time": times,
            "y": y,
            "x": x,
            "latitude": (("y", "x"), lat2.astype(np.float64)),
            "longitude": (("y", "x"), lon2.astype(np.float64)),
        },
        attrs={
            "grid_kind": kind,
            "stats": stats,
            "coarse_store": str(coarse_path),
            "fine_store": str(fine_path),
            "coarsen_factor": int(coarsen_factor) if same else None,
            "coarse_variables": [v.coarse for v in variables],
            "units": {
                v.fine: str(store_variable(fine_ds, v.fine, fine_path).attrs.get("units", "")) for v in variables
            },
        },
    )
    return ds
