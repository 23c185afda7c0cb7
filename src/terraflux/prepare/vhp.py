"""NOAA VHP weekly VHI -> ``vhp_{dataset}.zarr`` on the weekly grid of an extremes dataset.

Regular latitude/longitude grids (ERA5-Land): mean of the valid VHP pixels inside each cell (cell = centre
+- half the grid spacing); 2-D grids (CERRA: ``latitude(y, x)``, ``longitude(y, x)``): the nearest VHP pixel.
VHP week ``w`` of year ``Y`` is placed at the weekly store's week ``w`` of ``Y`` (weeks 1..52). Variables:
``VHI(time, ...)``, ``extreme`` (VHI < 26), ``extreme_loose`` (VHI < 35); both masks are False where VHI is
missing, and ``valid`` marks where it is not.

Every week of the store needs its file (else the job stops naming the weeks). A week whose file overlaps the grid
but has no valid pixel on it (VHP leaves pixels without an index at the fill value, e.g. a small northern or
snow-covered region in winter) is real data: it stays NaN (``valid`` False), is logged and listed in the store's
``weeks_without_valid_pixel`` attribute. A file whose pixels all lie outside the grid is an error naming it.

Built in one job (:func:`prepare_vhp`) or in parts of whole years (:func:`init_vhp`, :func:`prepare_vhp_part`,
:func:`finalise_vhp`; :mod:`.parts`): the same store either way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

from terraflux.errors import DataError
from terraflux.prepare import parts, plausibility, stores, weekly
from terraflux.prepare.pft import cell_index
from terraflux.sources import vhp
from terraflux.sources.vhp.read import open_vhp

import numpy as np
import xarray as xr
import zarr

log = logging.getLogger(__name__)

EXTREME = 26.0
LOOSE = 35.0
#: The warning logged for a week without any valid pixel on the grid (the file's path fills ``%s``).
NO_VALID_PIXEL = "%s: no valid VHI pixel on the grid (all fill values); the week stays NaN (valid = False)"


def regrid(vhi: xr.DataArray, target: xr.Dataset) -> tuple[np.ndarray, bool]:
    """VHI on the target grid: cell means (1-D latitude/longitude) or nearest pixel (2-D); and whether any VHP
    pixel (valid or not) falls on the grid."""
    lat, lon = vhi["latitude"].values, vhi["longitude"].values
    values = vhi.values
    if target["latitude"].ndim == 1:
        tlat, tlon = target["latitude"].values, target["longitude"].values
        size_y = float(np.abs(np.diff(tlat)).min()) if len(tlat) > 1 else 0.1
        size_x = float(np.abs(np.diff(tlon)).min()) if len(tlon) > 1 else 0.1
        iy = cell_index(lat, tlat, size_y)
        ix = cell_index(lon, tlon, size_x)
        cell = np.where((iy[:, None] >= 0) & (ix[None, :] >= 0), iy[:, None] * len(tlon) + ix[None, :], -1)
        ok = (cell >= 0) & np.isfinite(values)
        total = np.bincount(cell[ok], weights=values[ok], minlength=len(tlat) * len(tlon))
        count = np.bincount(cell[ok], minlength=len(tlat) * len(tlon))
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(count > 0, total / np.maximum(count, 1), np.nan).reshape(len(tlat), len(tlon))
        return out.astype(np.float32), bool((cell >= 0).any())
    tlat, tlon = target["latitude"].values, target["longitude"].values
    step_y = (lat[0] - lat[-1]) / max(len(lat) - 1, 1)
    step_x = (lon[-1] - lon[0]) / max(len(lon) - 1, 1)
    iy = np.rint((lat[0] - tlat) / step_y).astype(np.int64)
    ix = np.rint((tlon - lon[0]) / step_x).astype(np.int64)
    inside = (iy >= 0) & (iy < len(lat)) & (ix >= 0) & (ix < len(lon))
    out = np.full(tlat.shape, np.nan, np.float32)
    out[inside] = values[iy[inside], ix[inside]]
    return out, bool(inside.any())


def require_overlap(overlaps: bool, pixels: xr.DataArray, path: str | Path, grid: str) -> None:
    """Stop unless some pixel of the VHP file ``path`` (``pixels``: its VHI on latitude/longitude) falls on the
    target grid (``overlaps``, from :func:`regrid`); ``grid`` names that grid in the message."""
    if overlaps:
        return
    lat, lon = pixels["latitude"].values, pixels["longitude"].values
    south = vhp.LAT_TOP - vhp.HEIGHT * vhp.STEP
    raise DataError(
        f"{path}: its pixels (latitude {lat.min():.3f}..{lat.max():.3f}, longitude {lon.min():.3f}.."
        f"{lon.max():.3f}) all lie outside the grid of {grid}; the file is not the global VHP "
        f"product or config `region` is outside VHP's coverage (latitude {south:g}..{vhp.LAT_TOP:g}). "
        "Rerun its download or fix `region`"
    )


STORE = "vhp.zarr"


def init_vhp(*, weekly_store: str | Path, stores_dir: str | Path) -> None:
    """Create the empty ``vhp.zarr`` in ``stores_dir`` on the grid and weeks of ``weekly_store``."""
    target = xr.open_zarr(weekly_store)
    spatial = target["land_mask"].dims
    coords = {
        "time": (("time",), target["time"].values, {"standard_name": "time", "long_name": "first day of the week"}),
        "year": (("time",), target["year"].values.astype(np.int32), {}),
        "week": (("time",), target["week"].values.astype(np.int32), {}),
    }
    for name in spatial:
        coords[name] = ((name,), target[name].values, dict(target[name].attrs))
    if "x" in spatial:
        coords["latitude"] = (spatial, target["latitude"].values, {"units": "degrees_north"})
        coords["longitude"] = (spatial, target["longitude"].values, {"units": "degrees_east"})
    dims = ("time", *spatial)
    crs = target.rio.crs
    Path(stores_dir).mkdir(parents=True, exist_ok=True)
    stores.create(
        Path(stores_dir) / STORE,
        coords,
        {
            "VHI": stores.variable(dims, {"units": "1", "long_name": "Vegetation Health Index (NOAA VHP)"}),
            "extreme": stores.variable(dims, {"long_name": f"VHI < {EXTREME:g}"}, bool),
            "extreme_loose": stores.variable(dims, {"long_name": f"VHI < {LOOSE:g}"}, bool),
            "valid": stores.variable(dims, {"long_name": "VHI available"}, bool),
        },
        weekly.CHUNKS,
        {"source": "NOAA STAR Vegetation Health Products (VHP)"},
        crs=crs.to_wkt() if crs is not None else None,
        spatial_dims=(spatial[1], spatial[0]),
    )
    target.close()


def prepare_vhp_part(
    files: Mapping[tuple[int, int], str | Path],
    *,
    weekly_store: str | Path,
    stores_dir: str | Path,
    years: tuple[int, int],
    plausible: Mapping | None = None,
) -> parts.Part:
    """Regrid the VHP files ``{(year, week): path}`` of the weeks of ``years`` ``(first, last)`` onto the grid of
    ``weekly_store`` into the store of ``stores_dir`` (:func:`init_vhp`); returns the :class:`~.parts.Part`
    (the shared chunks' slices; weeks without a valid pixel) for :func:`finalise_vhp`."""
    target = xr.open_zarr(weekly_store)
    group = zarr.open_group(str(Path(stores_dir) / STORE), mode="r+")
    first, last = years
    index = {
        (int(y), int(w)): i
        for i, (y, w) in enumerate(zip(target["year"].values, target["week"].values, strict=True))
        if first <= y <= last
    }
    missing = [f"{y}-W{w:02d}" for y, w in index if (y, w) not in files]
    if missing:
        raise DataError(
            f"VHP data missing for week(s) {missing[:5]}{' ...' if len(missing) > 5 else ''} (no file given); "
            "rerun the acquire step for them"
        )
    region = (min(index.values()), max(index.values()) + 1)
    total = target.sizes["time"]
    writer = stores.TimeChunkWriter(
        group, ["VHI", "extreme", "extreme_loose", "valid"], weekly.CHUNKS["time"], total, region
    )
    without_valid = []
    checks = plausibility.for_source("vhp", plausible)
    for key in sorted(index, key=index.get):
        path = files[key]
        pixels = open_vhp(path)["VHI"]
        plausibility.check(pixels.values, "VHI", str(path), checks, require_data=False)
        vhi, overlaps = regrid(pixels, target)
        require_overlap(overlaps, pixels, path, str(weekly_store))
        if np.isnan(vhi).all():
            without_valid.append(f"{key[0]}-W{key[1]:02d}")
            log.warning(NO_VALID_PIXEL, path)
        with np.errstate(invalid="ignore"):
            week = {"VHI": vhi, "extreme": vhi < EXTREME, "extreme_loose": vhi < LOOSE, "valid": np.isfinite(vhi)}
        writer.push(index[key], {name: values[None] for name, values in week.items()})
    writer.close()
    target.close()
    return parts.Part(first, last, {"weeks_without_valid_pixel": without_valid}, {"vhp": writer.edges})


def finalise_vhp(
    stores_dir: str | Path,
    done: Iterable[parts.Part],
    *,
    out_path: str | Path,
    period: Mapping,
    provenance: Mapping | None = None,
) -> None:
    """Complete the store of ``stores_dir`` from the ``done`` parts (which must tile ``period``): shared chunks,
    the ``weeks_without_valid_pixel`` attribute; publish it as ``out_path``."""
    done = parts.check_tiling(done, int(period["start_year"]), int(period["end_year"]))
    native = Path(stores_dir) / STORE
    group = zarr.open_group(str(native), mode="r+")
    stores.write_edges(group, [piece for part in done for piece in part.edges.get("vhp", [])])
    group.attrs["weeks_without_valid_pixel"] = [w for part in done for w in part.record["weeks_without_valid_pixel"]]
    stores.finish(native, {"provenance": dict(provenance or {})})
    parts.publish(native, out_path)


def prepare_vhp(
    files: Mapping[tuple[int, int], str | Path],
    *,
    weekly_store: str | Path,
    out_path: str | Path,
    plausible: Mapping | None = None,
    provenance: Mapping | None = None,
) -> None:
    """Write ``vhp_{dataset}.zarr`` on the grid and weeks of ``weekly_store`` from VHP files
    ``{(year, week): path}`` in one process (:func:`init_vhp`, one part of all years, :func:`finalise_vhp`);
    ``plausible``: config ``prepare.plausibility`` (None: the range of :data:`~terraflux.sources.vhp.PLAUSIBLE`;
    :mod:`.plausibility`)."""
    with xr.open_zarr(weekly_store) as target:
        years = target["year"].values
        period = {"start_year": int(years.min()), "end_year": int(years.max())}
    with parts.staging_folder(out_path, "vhp_stores") as stores_dir:
        init_vhp(weekly_store=weekly_store, stores_dir=stores_dir)
        part = prepare_vhp_part(
            files,
            weekly_store=weekly_store,
            stores_dir=stores_dir,
            years=(period["start_year"], period["end_year"]),
            plausible=plausible,
        )
        finalise_vhp(stores_dir, [part], out_path=out_path, period=period, provenance=provenance)
