"""Requests above a field budget: split them into parts, merge the parts' files into one raw file.

The Climate Data Store refuses a request whose cost is too high, and it counts the cost in fields: the product
of the number of values of every request key but the area (cost estimation of the CDS,
https://github.com/ecmwf-projects/cads-adaptors, ``cads_adaptors/costing.py``): variables x days x hours
(x levels, x lead times) for the datasets here. A request above ``sources.cds.max_fields`` is split by
variable first (groups of whole variables), then, when one variable alone is above the budget, by days.

The parts' files are merged into the file one request would have returned, read the same by the source's
reader:

- GRIB: the parts' messages one after the other (GRIB files are sequences of independent messages; zero
  padding after a part's last message is dropped, the last part is kept whole);
- NetCDF: one NetCDF4 file with every variable over every time (xarray: variables merged, time steps of
  day parts concatenated), with the parts' attributes and encodings (compression, chunks, fill values);
- zips of NetCDF files (daily statistics, per-step-type zips): one zip whose members are merged by name the
  same way. Parts of which only some came as zips are merged into one NetCDF4.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from terraflux.errors import ConfigError
from terraflux.sources.download.delivery import sniff_format
from terraflux.sources.formats.zips import zip_files

import dask
import xarray as xr

#: Request keys the CDS leaves out of the field count (the geographic extent).
NOT_COUNTED = frozenset({"area"})
#: NetCDF4 encoding keys carried from the parts to the merged file.
ENCODING_KEYS = ("zlib", "complevel", "shuffle", "fletcher32", "chunksizes", "dtype", "_FillValue", "units", "calendar")
TIME_DIMS = ("valid_time", "time")


def _values(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple, set)) else [value]


def count_fields(request: Mapping[str, Any]) -> int:
    """Fields of a CDS request as the service counts them: product of the number of values per key."""
    count = 1
    for key, value in request.items():
        if key not in NOT_COUNTED:
            count *= len(_values(value))
    return count


def _chunks(items: list, size: int) -> list[list]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def split_request(request: Mapping[str, Any], max_fields: int | None, dataset: str) -> list[dict[str, Any]]:
    """``[request]`` if it is within ``max_fields`` (or no budget is set), else parts of at most ``max_fields``
    fields: groups of variables, or single variables over groups of days. Together the parts ask for exactly
    the fields of ``request``."""
    request = dict(request)
    fields = count_fields(request)
    if not max_fields or fields <= max_fields:
        return [request]
    variables = _values(request.get("variable", []))
    days = _values(request.get("day", []))
    per_variable = fields // max(len(variables), 1)
    if variables and per_variable <= max_fields:
        groups = _chunks(variables, max_fields // per_variable)
        return [dict(request, variable=group) for group in groups]
    per_day = per_variable // max(len(days), 1)
    if not days or per_day > max_fields:
        raise ConfigError(
            f"config 'sources.cds.max_fields' ({max_fields}) is below the {per_day} fields of one variable on one "
            f"day of '{dataset}' (the smallest part a request is split into): raise it, or ask for fewer hours"
        )
    return [
        dict(request, variable=[variable] if variables else request.get("variable"), day=group)
        for variable in (variables or [None])
        for group in _chunks(days, max_fields // per_day)
    ]


def _time_dim(ds) -> str | None:
    return next((dim for dim in TIME_DIMS if dim in ds.dims), None)


def _encoding(variable) -> dict[str, Any]:
    """The NetCDF4 encoding of a part's variable, without packing (parts may be packed differently)."""
    encoding = {key: variable.encoding[key] for key in ENCODING_KEYS if key in variable.encoding}
    if "scale_factor" in variable.encoding or "add_offset" in variable.encoding:
        encoding = {key: value for key, value in encoding.items() if key not in ("dtype", "_FillValue")}
    if "chunksizes" in encoding and encoding["chunksizes"] is not None:
        encoding["chunksizes"] = tuple(
            min(size, variable.sizes[dim]) for size, dim in zip(encoding["chunksizes"], variable.dims, strict=True)
        )
    return encoding


def merge_netcdf(files: Sequence[Path], target: Path) -> None:
    """Write one NetCDF4 ``target`` with every variable and time step of ``files`` (NetCDF parts of one
    request): parts with the same variables are concatenated along time, the groups then merged."""
    datasets = [xr.open_dataset(path, engine="netcdf4", chunks={}, cache=False) for path in files]
    try:
        groups: dict[frozenset, list] = {}
        for ds in datasets:
            groups.setdefault(frozenset(ds.data_vars), []).append(ds)
        combined = []
        for group in groups.values():
            dim = _time_dim(group[0])
            if len(group) > 1 and dim is not None:
                group = sorted(group, key=lambda ds: ds[dim].values[0])
                combined.append(
                    xr.concat(
                        group,
                        dim=dim,
                        data_vars="minimal",
                        coords="minimal",
                        compat="override",
                        combine_attrs="override",
                        join="outer",
                    )
                )
            else:
                combined.append(group[0])
        merged = xr.merge(combined, compat="no_conflicts", join="outer", combine_attrs="override")
        encoding = {}
        for ds in datasets:
            for name, variable in ds.variables.items():
                encoding.setdefault(name, _encoding(variable))
        with dask.config.set(scheduler="synchronous"):  # netCDF-C/HDF5 are not thread-safe
            merged.to_netcdf(target, format="NETCDF4", engine="netcdf4", encoding=encoding)
    finally:
        for ds in datasets:
            ds.close()


def _grib_messages_end(path: Path) -> int:
    """Bytes of ``path`` without the zero padding that may follow its last GRIB message (``7777``); the whole
    file when what follows is not zeros (a cut message stays for the reader's completeness check)."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        tail_start = max(0, size - (1 << 16))
        handle.seek(tail_start)
        tail = handle.read()
    end = tail.rfind(b"7777") + 4
    return tail_start + end if end >= 4 and not tail[end:].strip(b"\0") else size


def merge_grib(files: Sequence[Path], target: Path) -> None:
    """The GRIB messages of ``files`` one after the other in ``target`` (padding between parts dropped)."""
    with open(target, "wb") as out:
        for index, path in enumerate(files):
            length = path.stat().st_size if index == len(files) - 1 else _grib_messages_end(path)
            with open(path, "rb") as part:
                remaining = length
                while remaining > 0:
                    block = part.read(min(remaining, 1 << 22))
                    if not block:
                        break
                    out.write(block)
                    remaining -= len(block)


def merge_zips(files: Sequence[Path], target: Path, folder: Path) -> None:
    """One zip of the NetCDF members of the zips ``files``, members of the same name merged (:func:`merge_netcdf`),
    in the order they first appear; unpacked into ``folder``."""
    members: dict[str, list[Path]] = {}
    for index, path in enumerate(files):
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith("/"):
                    continue
                unpacked = folder / f"part{index}" / Path(name).name
                unpacked.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(name) as source, open(unpacked, "wb") as sink:
                    shutil.copyfileobj(source, sink, 1 << 22)
                members.setdefault(name, []).append(unpacked)
    merged = []
    for name, copies in members.items():
        out = folder / "merged" / Path(name).name
        out.parent.mkdir(parents=True, exist_ok=True)
        if len(copies) == 1:
            copies[0].replace(out)
        else:
            merge_netcdf(copies, out)
        merged.append(out)
    zip_files(target, merged, list(members))


def merge_parts(files: Sequence[Path], target: Path, folder: Path) -> str:
    """Merge the parts' files (in request order) into ``target``, unpacking zips into the empty scratch
    ``folder``; returns the merged format."""
    files = [Path(f) for f in files]
    kinds = [sniff_format(f) for f in files]
    if all(kind == "grib" for kind in kinds):
        merge_grib(files, target)
        return "grib"
    if all(kind == "zip" for kind in kinds):
        merge_zips(files, target, folder)
        return "zip"
    netcdfs = []
    for index, (path, kind) in enumerate(zip(files, kinds, strict=True)):
        if kind == "zip":
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    if not name.endswith("/"):
                        netcdfs.append(Path(archive.extract(name, folder / f"part{index}")))
        else:
            netcdfs.append(path)
    merge_netcdf(netcdfs, target)
    return "netcdf4"
