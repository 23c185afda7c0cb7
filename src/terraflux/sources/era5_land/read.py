"""ERA5-Land hourly and daily-statistics files from the CDS, in every layout it delivers, as one dataset.

Layouts accepted (detected from the first bytes, :mod:`terraflux.sources.formats.sniff`):

- NetCDF4 of the new CDS: dims ``valid_time, latitude, longitude``, ``expver(valid_time)`` strings, scalar
  ``number``, float32 with NaN fill;
- NetCDF3 of the pre-2024 CDS: ``time`` in hours since 1900, int16 packed data (decoded to float32), and
  when final and preliminary data were mixed an extra ``expver`` dimension (1 = final, 5 = ERA5T);
- a zip of per-step-type NetCDF files (instant and accum, :data:`~terraflux.sources.era5_land.STEP_TYPE_MEMBER`);
- GRIB (cfgrib, ``engine="cfgrib"``): ``(time, step, latitude, longitude)`` unstacked to valid times; the file
  is first walked message by message (:func:`~terraflux.sources.formats.grib.check_grib_complete`: padding after
  the last message is accepted, a cut message is an error).

A file may hold a single time step: its time coordinate may then be a scalar (cfgrib squeezes it, and so may a
NetCDF converted from such a GRIB file); it becomes a ``time`` dimension of length 1.

The result always has dims ``(time, latitude, longitude)``, latitude descending (a file with ascending
latitude is flipped, and that is logged), unique increasing times, float32 data, short variable names and
an ``expver(time)`` coordinate (``"0001"`` final, ``"0005"`` ERA5T). Where final and preliminary values
exist for the same hour the final one is kept; ``attrs["era5t_hours"]`` and ``attrs["era5t_replaced_hours"]``
count the preliminary hours kept and the ones replaced by final data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from terraflux.errors import DataError
from terraflux.sources.era5_land import FINAL, accepted_units, canonical_units, short_name
from terraflux.sources.formats.grib import check_grib_complete, open_grib_datasets
from terraflux.sources.formats.netcdf import extracted, open_netcdf
from terraflux.sources.formats.sniff import sniff

import numpy as np
import pandas as pd
import xarray as xr

log = logging.getLogger(__name__)


def _expver_string(value) -> str:
    text = value.decode() if isinstance(value, bytes) else str(value)
    try:
        return f"{int(float(text)):04d}"
    except ValueError:
        return text


def _from_grib(path: Path) -> xr.Dataset:
    """All messages of a GRIB file as one dataset on valid times (cfgrib splits it by step type)."""
    check_grib_complete(path)
    try:
        parts = open_grib_datasets(path)
    except Exception as error:  # eccodes raises many types for corrupt files
        raise DataError(f"{path}: cannot be read as GRIB ({error}); delete it and rerun its download") from error
    out = []
    for part in parts:
        part = part.drop_vars(
            [c for c in ("number", "surface", "heightAboveGround", "depthBelowLandLayer") if c in part.coords]
        )
        # cfgrib squeezes a base time or step that has one value to a scalar coordinate (a file of one step)
        for dim in ("time", "step"):
            if dim in part.coords and dim not in part.dims:
                part = part.expand_dims(dim)
        if "step" in part.dims:
            valid = (part["time"] + part["step"]).transpose("time", "step").values.ravel()
            stacked = part.stack(stamp=("time", "step"))
            stacked = stacked.drop_vars(["stamp", "time", "step", "valid_time"], errors="ignore")
            part = stacked.assign_coords(stamp=valid).rename(stamp="time").transpose("time", ...)
        elif "valid_time" in part.coords and "time" in part.dims and part["valid_time"].dims == ("time",):
            part = part.assign_coords(time=part["valid_time"].values).drop_vars("valid_time")
        part = part.dropna("time", how="all")
        out.append(part)
    if not out:
        raise DataError(f"{path}: the GRIB file holds no fields; rerun its download")
    return xr.merge(out, join="outer", compat="override")


@contextmanager
def _open_parts(path: Path, stack: ExitStack) -> Iterator[list[xr.Dataset]]:
    kind = sniff(path)
    if kind in ("netcdf4", "netcdf3"):
        yield [open_netcdf(path)]
    elif kind == "zip":
        members = stack.enter_context(extracted(path))
        yield [open_netcdf(member) for member in members]
    else:
        yield [_from_grib(path)]


def _combine_expver_dimension(ds: xr.Dataset, path: Path) -> tuple[xr.Dataset, int, int]:
    """Old-CDS files with an ``expver`` dimension: keep final data where present, else ERA5T."""
    codes = [_expver_string(v) for v in ds["expver"].values]
    ds = ds.assign_coords(expver=codes)
    if FINAL not in codes:
        raise DataError(f"{path}: expver dimension without final data ({codes}); rerun its download")
    final = ds.sel(expver=FINAL, drop=True)
    prelim_codes = [c for c in codes if c != FINAL]
    name = next(iter(ds.data_vars))
    has_final = final[name].notnull().any(("latitude", "longitude")).values
    kept = 0
    replaced = 0
    combined = final
    labels = np.full(ds.sizes["time"], FINAL, dtype=object)
    for code in prelim_codes:
        prelim = ds.sel(expver=code, drop=True)
        has_prelim = prelim[name].notnull().any(("latitude", "longitude")).values
        replaced += int(np.sum(has_prelim & has_final))
        use = has_prelim & ~has_final
        kept += int(np.sum(use))
        labels[use] = code
        combined = combined.where(xr.DataArray(~use, dims="time"), prelim)
    combined = combined.assign_coords(expver=("time", labels.astype(str)))
    return combined, kept, replaced


def standardize(ds: xr.Dataset, path: str | Path) -> xr.Dataset:
    """Dims ``(time, latitude, longitude)``, latitude descending, unique times, expver resolved, units checked."""
    path = Path(path)
    if "valid_time" not in ds.dims and "time" not in ds.dims:  # one time step, its coordinate squeezed to a scalar
        name = "valid_time" if "valid_time" in ds.coords else "time"
        if name not in ds.coords:
            raise DataError(f"{path}: no time coordinate (valid_time or time); the file is not ERA5-Land from the CDS")
        ds = ds.drop_vars([c for c in ("time", "valid_time") if c != name and c in ds.coords]).expand_dims(name)
    if "valid_time" in ds.dims:
        ds = ds.rename(valid_time="time")
    elif "valid_time" in ds.coords and "time" in ds.dims:
        ds = ds.drop_vars("valid_time")
    ds = ds.drop_vars(
        [c for c in ds.coords if c not in ("time", "latitude", "longitude", "expver") and c not in ds.dims]
    )
    for name, var in ds.data_vars.items():
        if set(var.dims) != {"time", "latitude", "longitude"} and "expver" not in var.dims:
            raise DataError(f"{path}: variable {name} has dims {var.dims}, expected (time, latitude, longitude)")
    kept = replaced = 0
    if "expver" in ds.dims:
        ds, kept, replaced = _combine_expver_dimension(ds, path)
    elif "expver" in ds.coords:
        ds = ds.assign_coords(expver=("time", [_expver_string(v) for v in np.atleast_1d(ds["expver"].values)]))
    else:
        ds = ds.assign_coords(expver=("time", np.full(ds.sizes["time"], FINAL)))
    ds = ds.transpose("time", "latitude", "longitude")

    # Duplicated times: final data wins over ERA5T; true duplicates are an error.
    times = ds["time"].values
    if len(np.unique(times)) != len(times):
        rank = (ds["expver"].values != FINAL).astype(int)
        order = np.lexsort((rank, times))
        sorted_times, sorted_rank = times[order], rank[order]
        first = np.r_[True, sorted_times[1:] != sorted_times[:-1]]
        same = ~first & (sorted_rank == np.r_[-1, sorted_rank[:-1]])
        if same.any():
            dup = pd.Timestamp(sorted_times[np.argmax(same)])
            raise DataError(
                f"{path}: duplicated time {dup:%Y-%m-%d %H:%M} with the same expver; the file is malformed. "
                "Delete it and rerun its download"
            )
        replaced += int(np.sum(~first))
        ds = ds.isel(time=order[first])
    elif not np.all(np.diff(times.astype("datetime64[ns]").astype(np.int64)) > 0):
        ds = ds.sortby("time")
    kept = max(kept, int(np.sum(ds["expver"].values != FINAL)))

    lat = ds["latitude"].values
    if lat.size > 1 and lat[0] < lat[-1]:
        log.warning("%s: latitude is ascending; flipped to the descending order of the prepared stores", path)
        ds = ds.isel(latitude=slice(None, None, -1))

    for name, var in ds.data_vars.items():
        accepted = accepted_units(name)
        units = var.attrs.get("units", var.encoding.get("units"))
        if accepted is not None and canonical_units(units) not in accepted:
            raise DataError(
                f"{path}: variable {name} has units {units!r}, expected {sorted(accepted)[0]!r}; "
                "the file is not ERA5-Land as delivered by the CDS. Re-download it"
            )
    ds.attrs["era5t_hours"] = kept
    ds.attrs["era5t_replaced_hours"] = replaced
    return ds


@contextmanager
def open_hourly(paths: str | Path | Iterable[str | Path], variables: Iterable[str] = ()) -> Iterator[xr.Dataset]:
    """Open the file(s) of one month (one file, or one per variable) as one standardized lazy dataset.

    ``variables`` (short or CDS names) must all be present, else a DataError names the file. The dataset is
    valid inside the ``with`` block (zip members live in a temporary folder).
    """
    paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    wanted = [short_name(v) for v in variables]
    with ExitStack() as stack:
        parts = []
        for path in paths:
            with _open_parts(path, stack) as opened:
                for part in opened:
                    stack.callback(part.close)
                    parts.append((path, standardize(part, path)))
        present = {name for _, part in parts for name in part.data_vars}
        missing = [name for name in wanted if name not in present]
        if missing:
            where = ", ".join(str(p) for p in paths)
            raise DataError(
                f"{where}: variable(s) {missing} missing (found {sorted(present)}); rerun the download of this month"
            )
        first_path, merged = parts[0]
        for path, part in parts[1:]:
            if part.sizes["time"] != merged.sizes["time"] or not np.array_equal(
                part["time"].values, merged["time"].values
            ):
                raise DataError(
                    f"{path}: time axis differs from {first_path} of the same month; rerun the download of this month"
                )
            merged = xr.merge(
                [merged, part.drop_vars("expver")], join="exact", compat="override", combine_attrs="drop_conflicts"
            )
        merged.attrs["era5t_hours"] = max(int(p.attrs["era5t_hours"]) for _, p in parts)
        merged.attrs["era5t_replaced_hours"] = max(int(p.attrs["era5t_replaced_hours"]) for _, p in parts)
        if wanted:
            merged = merged[wanted]
        yield merged


@contextmanager
def open_daily(path: str | Path, variables: Iterable[str] = ()) -> Iterator[xr.Dataset]:
    """Open a daily-statistics zip (one NetCDF per variable) as one standardized dataset of daily values."""
    with open_hourly(path, variables) as ds:
        yield ds
