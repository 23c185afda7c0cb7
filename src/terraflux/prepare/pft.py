"""Land cover -> PFT fractions per model-grid cell and year (``pft.zarr``).

LCCS classes are converted with the standard cross-walk (``terraflux/data/lccs_pft_crosswalk.csv``,
Poulter et al. 2015) to percentages of the 14 ESA CCI PFTs; or the ESA CCI PFT product is read directly.
Per model cell (centre +- half the cell size) the 300 m pixels are averaged:

- ``pft14(year, esa_pft, latitude, longitude)``: share of the cell's valid (not no-data) area, in [0, 1];
- ``fraction(year, pft, latitude, longitude)``, pft in (BL, NL, GS, other) (``data/pft_groups.csv``): shares of
  the cell's land (non-water) area, summing to 1 where the cell has land, NaN elsewhere;
- ``land_fraction(year, latitude, longitude)``: non-water share of the cell.

Only the pixels inside the model grid's extent are read: index slices on the file's 1-D latitude/longitude
coordinates (:func:`window`) select them before any data is loaded, so a regional grid reads a small part of a
global map (the ESA CCI PFT product is global: 64800 x 129600 pixels per variable). The window is read in blocks
of at most :data:`PIXEL_BLOCK` pixels and reduced with ``bincount`` (integer class counts or percentage sums,
exact): memory stays bounded whatever the map size.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from terraflux.data import DATA_DIR
from terraflux.errors import DataError
from terraflux.prepare import stores
from terraflux.sources import land_cover
from terraflux.sources.land_cover import read as land_cover_read
from terraflux.workflow.atomic import atomic_output

import numpy as np
import pandas as pd

GROUPS = ("BL", "NL", "GS", "other")
PFT14 = land_cover.PFT_VARIABLES
#: Pixels read at a time (a few tens of MB of temporaries).
PIXEL_BLOCK = 1 << 21


def crosswalk() -> pd.DataFrame:
    """The LCCS -> PFT percentage table (index lccs_class; columns the 14 PFTs and NODATA)."""
    return pd.read_csv(DATA_DIR / "lccs_pft_crosswalk.csv", comment="#").set_index("lccs_class")


def groups() -> dict[str, str]:
    """PFT -> group (BL, NL, GS, other, water)."""
    table = pd.read_csv(DATA_DIR / "pft_groups.csv", comment="#")
    return dict(zip(table["pft"], table["group"], strict=True))


def lookup() -> np.ndarray:
    """``[256, 15]`` fractions (0..1) of the 14 PFTs + NODATA for every uint8 class; unknown classes -> NODATA."""
    table = crosswalk()
    out = np.zeros((256, len(PFT14) + 1))
    out[:, -1] = 1.0
    for code, row in table.iterrows():
        out[int(code)] = row[list(PFT14) + ["NODATA"]].to_numpy(float) / 100.0
    return out


def cell_index(coords: np.ndarray, centres: np.ndarray, size: float) -> np.ndarray:
    """Index of the cell (centres ascending or descending, spacing ``size``) holding each coordinate; -1 outside."""
    edge = centres[0] - np.sign(centres[-1] - centres[0] if len(centres) > 1 else 1) * size / 2
    step = size if len(centres) < 2 or centres[-1] > centres[0] else -size
    index = np.floor((coords - edge) / step).astype(np.int64)
    index[(index < 0) | (index >= len(centres))] = -1
    return index


def window(
    lat: np.ndarray, lon: np.ndarray, cell_lat: np.ndarray, cell_lon: np.ndarray, size: float
) -> tuple[slice, slice] | None:
    """Index slices (rows, columns) of the smallest block of pixels (1-D monotonic ``lat``, ``lon``) that holds every
    pixel of the model cells; None when no pixel falls in a cell."""
    rows = np.flatnonzero(cell_index(lat, cell_lat, size) >= 0)
    cols = np.flatnonzero(cell_index(lon, cell_lon, size) >= 0)
    if not rows.size or not cols.size:
        return None
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def shares(
    read: Callable[[slice], tuple[str, Any]],
    lat: np.ndarray,
    lon: np.ndarray,
    cell_lat: np.ndarray,
    cell_lon: np.ndarray,
    size: float,
) -> np.ndarray:
    """Sum over pixels of each cell: ``[NY, NX, 15]`` (14 PFTs + no data, in pixel units) from row blocks.

    ``lat`` [R], ``lon`` [X]: the pixels to reduce (a window, :func:`window`); ``read(rows)`` returns the block of
    ``rows`` as ``("codes", (codes [r, X], lut [256, 15]))`` (class codes, summed as integer counts, times the
    lookup table at the end) or ``("percent", iterator of [r, X] arrays)`` (the 14 PFT percentages, 0..100,
    NaN = no data, each summed exactly and divided by 100 at the end).
    """
    iy_all = cell_index(lat, cell_lat, size)
    ix = cell_index(lon, cell_lon, size)
    ny, nx = len(cell_lat), len(cell_lon)
    counts, lut = None, None
    percent = np.zeros((ny * nx, len(PFT14) + 1))
    rows_per_block = max(1, PIXEL_BLOCK // max(1, len(lon)))
    for start in range(0, len(lat), rows_per_block):
        rows = slice(start, min(start + rows_per_block, len(lat)))
        iy = iy_all[rows]
        if (iy < 0).all():
            continue
        cell = np.where((iy[:, None] >= 0) & (ix[None, :] >= 0), iy[:, None] * nx + ix[None, :], -1)
        valid = cell >= 0
        kind, values = read(rows)
        if kind == "codes":
            codes, lut = values
            block_counts = np.bincount(cell[valid] * 256 + codes[valid].astype(np.int64), minlength=ny * nx * 256)
            counts = block_counts if counts is None else np.add(counts, block_counts, out=counts)
        else:
            cells = cell[valid]
            for k, block in enumerate(values):
                weights = np.asarray(block[valid], dtype=np.float64)
                weights[~np.isfinite(weights)] = 0.0
                percent[:, k] += np.bincount(cells, weights=weights, minlength=ny * nx)
    total = percent / 100.0
    if counts is not None:
        total += counts.reshape(ny * nx, 256) @ lut
    return total.reshape(ny, nx, -1)


def fractions(total: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pft14 ``[14, NY, NX]``, groups ``[4, NY, NX]``, land fraction ``[NY, NX]``) from per-cell sums."""
    data = total[..., :-1].sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        pft14 = np.where(data[..., None] > 0, total[..., :-1] / data[..., None], np.nan)
        group_of = groups()
        water = pft14[..., list(PFT14).index("WATER")]
        land = 1.0 - water
        out = []
        for g in GROUPS:
            cols = [i for i, p in enumerate(PFT14) if group_of[p] == g]
            out.append(np.where(land > 1e-9, pft14[..., cols].sum(axis=-1) / land, np.nan))
    return np.moveaxis(pft14, -1, 0).astype(np.float32), np.stack(out).astype(np.float32), land.astype(np.float32)


def require_pixels(found: bool, path: str | Path) -> None:
    """Stop unless some land-cover pixel of ``path`` with data falls on the model grid (``found``)."""
    if not found:
        raise DataError(
            f"{path}: no land-cover pixel falls on the model grid; check config `region` and the file's area"
        )


def prepare_pft(
    files: Mapping[int, str],
    *,
    out_path: str | Path,
    cell_lat: Sequence[float],
    cell_lon: Sequence[float],
    cell_size: float,
    product: str,
    provenance: Mapping | None = None,
) -> None:
    """Write ``pft.zarr`` from one land-cover file per year ``{year: path}`` (``product``: lccs or pft)."""
    cell_lat = np.asarray(cell_lat, float)
    cell_lon = np.asarray(cell_lon, float)
    years = sorted(files)
    lut = lookup()
    pft14_all, group_all, land_all = [], [], []
    for year in years:
        path = files[year]
        if product == "lccs":
            opened = land_cover_read.open_lccs(path)
        elif product == "pft":
            opened = land_cover_read.open_pft(path)
        else:
            raise DataError(f"config `sources.land_cover.product`: unknown product {product!r} (lccs or pft)")
        with opened as maps:
            lat, lon = maps["latitude"].values, maps["longitude"].values
            found = window(lat, lon, cell_lat, cell_lon, cell_size)
            if found is None:
                total = np.zeros((len(cell_lat), len(cell_lon), len(PFT14) + 1))
            else:
                rows, cols = found
                part = maps.isel(latitude=rows, longitude=cols)  # lazy: only the window is read below
                if product == "lccs":

                    def block(r, part=part):
                        return "codes", (part[r].values, lut)
                else:

                    def block(r, part=part):
                        return "percent", (part[p][r].values for p in PFT14)

                total = shares(block, lat[rows], lon[cols], cell_lat, cell_lon, cell_size)
        require_pixels(total[..., :-1].sum() > 0, path)
        pft14, grouped, land = fractions(total)
        pft14_all.append(pft14)
        group_all.append(grouped)
        land_all.append(land)
    space = {
        "latitude": (("latitude",), cell_lat, {"units": "degrees_north", "standard_name": "latitude"}),
        "longitude": (("longitude",), cell_lon, {"units": "degrees_east", "standard_name": "longitude"}),
    }
    with atomic_output(out_path) as tmp:
        group = stores.create(
            tmp,
            {
                "year": (("year",), np.array(years, np.int32), {}),
                "pft": (("pft",), np.array(GROUPS), {}),
                "esa_pft": (("esa_pft",), np.array(PFT14), {}),
                **space,
            },
            {
                "fraction": stores.variable(
                    ("year", "pft", "latitude", "longitude"),
                    {"units": "1", "long_name": "share of the cell's land area"},
                ),
                "pft14": stores.variable(
                    ("year", "esa_pft", "latitude", "longitude"),
                    {"units": "1", "long_name": "share of the cell's valid area (ESA CCI PFTs)"},
                ),
                "land_fraction": stores.variable(
                    ("year", "latitude", "longitude"), {"units": "1", "long_name": "non-water share of the cell"}
                ),
            },
            {},
            {
                "source": f"ESA CCI land cover ({product})",
                "crosswalk": "Poulter et al. 2015 (terraflux/data/lccs_pft_crosswalk.csv)",
            },
        )
        group["fraction"][:] = np.stack(group_all)
        group["pft14"][:] = np.stack(pft14_all)
        group["land_fraction"][:] = np.stack(land_all)
        stores.finish(tmp, {"provenance": dict(provenance or {})})
