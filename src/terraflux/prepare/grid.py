"""Regular latitude/longitude grids: cropping to the region and the coarser model grid (block means over land)."""

from __future__ import annotations

from terraflux.errors import DataError

import numpy as np
import xarray as xr


def crop(ds: xr.Dataset, region: dict, source: str) -> xr.Dataset:
    """The part of ``ds`` inside ``region`` (keys north, south, west, east in degrees; edges included).

    Longitudes 0..360 in the file are matched to a region given in -180..180 and vice versa.
    """
    lat = ds["latitude"].values
    lon = ds["longitude"].values
    step = float(np.abs(np.diff(lat)).min()) if lat.size > 1 else 0.0
    tol = 1e-6 + 0.01 * step
    west, east = region["west"], region["east"]
    if lon.max() > 180 and west < 0:
        west, east = west % 360, east % 360
    elif lon.min() < 0 and east > 180:
        west, east = west - 360, east - 360
    rows = (lat <= region["north"] + tol) & (lat >= region["south"] - tol)
    cols = (lon >= west - tol) & (lon <= east + tol)
    if not rows.any() or not cols.any():
        raise DataError(
            f"{source}: no grid point inside the region {region} (file covers latitude {lat.min()}..{lat.max()}, "
            f"longitude {lon.min()}..{lon.max()}); request the region's area or fix config `region`"
        )
    r, c = np.flatnonzero(rows), np.flatnonzero(cols)
    # contiguous selections as slices: netCDF reads of index arrays are far slower than of slices
    rows_sel = slice(r[0], r[-1] + 1) if r[-1] - r[0] + 1 == len(r) else r
    cols_sel = slice(c[0], c[-1] + 1) if c[-1] - c[0] + 1 == len(c) else c
    return ds.isel(latitude=rows_sel, longitude=cols_sel)


def model_grid(lat: np.ndarray, lon: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the model cells: blocks of ``factor`` x ``factor`` points from the north-west corner.

    The last row/column of blocks may be partial; its centre is that of the full block.
    """
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    dlat = lat[1] - lat[0] if lat.size > 1 else -1.0
    dlon = lon[1] - lon[0] if lon.size > 1 else 1.0
    ny = -(-lat.size // factor)
    nx = -(-lon.size // factor)
    cell_lat = lat[0] + dlat * ((factor - 1) / 2 + factor * np.arange(ny))
    cell_lon = lon[0] + dlon * ((factor - 1) / 2 + factor * np.arange(nx))
    return np.round(cell_lat, 6), np.round(cell_lon, 6)


def block_mean(values: np.ndarray, land: np.ndarray, factor: int) -> np.ndarray:
    """Block means over land points of the last two axes (``[..., ny, nx]`` -> ``[..., NY, NX]``), float32.

    Non-land points and NaNs are left out; a block without any land value is NaN.
    """
    if factor == 1:
        return np.where(land, values, np.nan).astype(np.float32)
    *lead, ny, nx = values.shape
    NY, NX = -(-ny // factor), -(-nx // factor)
    padded = np.full((*lead, NY * factor, NX * factor), np.nan, dtype=np.float64)
    padded[..., :ny, :nx] = np.where(land, values, np.nan)
    blocks = padded.reshape(*lead, NY, factor, NX, factor)
    finite = np.isfinite(blocks)
    count = finite.sum(axis=(-3, -1))
    total = np.where(finite, blocks, 0.0).sum(axis=(-3, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan).astype(np.float32)


def block_any(mask: np.ndarray, factor: int) -> np.ndarray:
    """True where any point of a block is True (``[ny, nx]`` -> ``[NY, NX]``)."""
    ny, nx = mask.shape
    NY, NX = -(-ny // factor), -(-nx // factor)
    padded = np.zeros((NY * factor, NX * factor), dtype=bool)
    padded[:ny, :nx] = mask
    return padded.reshape(NY, factor, NX, factor).any(axis=(1, 3))
