"""Regular grids: cropping to the region, one grid for every file, the coarser model grid (block means over land)."""

from __future__ import annotations

from collections.abc import Mapping

from terraflux.errors import DataError

import numpy as np
import xarray as xr

#: Time steps per read when a longitude selection wraps around the file's seam (a day of hourly fields).
WRAP_TIME_CHUNK = 24


def region_longitudes(region: Mapping) -> tuple[float, float]:
    """(west, east) of config ``region`` in degrees east on -180..180: a box given on 0..360 that lies east of the
    antimeridian (west >= 180) is moved by -360 degrees; other boxes are kept as given."""
    west, east = float(region["west"]), float(region["east"])
    if west >= 180.0:
        west, east = west - 360.0, east - 360.0
    return west, east


def crop(ds: xr.Dataset, region: Mapping, source: str) -> xr.Dataset:
    """The part of ``ds`` inside ``region`` (keys north, south, west, east in degrees; edges included).

    Longitudes are matched modulo 360, so a file on 0..360 (a global ERA5-Land file) and a region on -180..180
    fit whatever side of the Greenwich meridian the region lies on, including a region across it (the Europe
    preset, 25 W to 45 E). The result's longitudes run from the region's west edge eastwards, on -180..180
    (:func:`region_longitudes`; a region across the antimeridian continues beyond 180): a file's 335.0 becomes
    -25.0, values that need no shift are kept exactly. A selection that wraps around the file's seam (0/360) is
    read as two contiguous pieces joined lazily (dask, :data:`WRAP_TIME_CHUNK` time steps per read), never with an
    index array (netCDF reads of index arrays are orders of magnitude slower than of slices).
    """
    lat = ds["latitude"].values
    lon = ds["longitude"].values.astype(np.float64)
    step = float(np.abs(np.diff(lat)).min()) if lat.size > 1 else 0.0
    tol = 1e-6 + 0.01 * step
    west, east = region_longitudes(region)
    turns = np.floor((lon - (west - tol)) / 360.0)  # whole turns that bring each longitude to >= west - tol
    shifted = lon - 360.0 * turns
    rows = (lat <= region["north"] + tol) & (lat >= region["south"] - tol)
    cols = shifted <= east + tol
    if not rows.any() or not cols.any():
        raise DataError(
            f"{source}: no grid point inside the region {dict(region)} (file covers latitude {lat.min()}..{lat.max()}, "
            f"longitude {lon.min()}..{lon.max()}); request the region's area or fix config `region`"
        )
    r = np.flatnonzero(rows)
    c = np.flatnonzero(cols)
    c = c[np.argsort(shifted[c], kind="stable")]
    # contiguous selections as slices: netCDF reads of index arrays are far slower than of slices
    rows_sel = slice(r[0], r[-1] + 1) if r[-1] - r[0] + 1 == len(r) else r
    runs = np.split(c, np.flatnonzero(np.diff(c) != 1) + 1)
    if len(runs) == 1:
        out = ds.isel(latitude=rows_sel, longitude=slice(c[0], c[-1] + 1))
    else:
        chunks = {"time": WRAP_TIME_CHUNK} if "time" in ds.dims else {}
        pieces = [ds.isel(latitude=rows_sel, longitude=slice(run[0], run[-1] + 1)).chunk(chunks) for run in runs]
        out = xr.concat(pieces, dim="longitude", data_vars="minimal", coords="minimal", compat="override")
    if turns[c].any():
        values = np.where(turns[c] == 0, lon[c], np.round(shifted[c], 9))
        out = out.assign_coords(longitude=("longitude", values, dict(ds["longitude"].attrs)))
    return out


def describe(coords: Mapping[str, np.ndarray]) -> str:
    """``'latitude 6 points 48..47.5, longitude 8 points 8..8.7'`` for 1-D grid coordinates."""
    return ", ".join(
        f"{name} {len(values)} points {values[0]:g}..{values[-1]:g}" if len(values) else f"{name} 0 points"
        for name, values in coords.items()
    )


def check_same_grid(
    source: str, coords: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray], reference: str, advice: str
) -> None:
    """Stop with a DataError naming ``source``, its grid and the ``expected`` one (that of ``reference``) when its
    1-D grid coordinates (``{name: values}``, degrees or metres) differ in size or by more than 1 % of the spacing.

    Every month of a source must lie on one grid: the stores are written month by month on the first month's
    grid. ``advice`` says what to do.
    """
    for name, want in expected.items():
        got = np.asarray(coords[name], dtype=np.float64)
        want = np.asarray(want, dtype=np.float64)
        spacing = float(np.abs(np.diff(want)).min()) if want.size > 1 else 0.0
        if got.shape != want.shape or not np.allclose(got, want, rtol=0.0, atol=1e-6 + 0.01 * spacing):
            raise DataError(
                f"{source}: its grid ({describe(coords)}) is not the grid of {reference} ({describe(expected)}) "
                f"that the other files share; {advice}"
            )


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
