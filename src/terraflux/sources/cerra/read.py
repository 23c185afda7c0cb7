"""CERRA single-level GRIB2 files (Lambert conformal conic), read with eccodes directly.

Returns dims ``(time, y, x)`` with ``x``/``y`` in metres on the grid's own projection (from the GRIB keys
LaD, LoV, Latin1/2, Dx/Dy and the first grid point; sphere radius 6371229 m), 2-D ``latitude``/``longitude``,
short variable names (eccodes ``cfVarName``, as cfgrib names them: t2m, r2, tp, ...), float32. Analysis fields
have ``time`` = analysis time; forecast accumulations (e.g. ``tp``, kg m-2 over ``step`` hours) have ``time`` =
start of the accumulation and ``attrs['step_hours']``.

One pass over the file reads each message's header (name, date, time, step, offset) and checks that no message
is cut short (:func:`terraflux.sources.formats.grib.messages`: padding after the last message is accepted); the
data stay on disk and are decoded lazily, only the requested messages, and cropped right after decoding
(``ds.isel(x=..., y=...)`` before ``.values`` decodes only the window). cfgrib would read every header key of
every message through Python. A file may hold a single time step (dims keep ``time`` of length 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from terraflux.errors import DataError
from terraflux.sources.cerra import EARTH_RADIUS
from terraflux.sources.formats.grib import messages as grib_messages
from terraflux.sources.formats.sniff import sniff

import eccodes
import numpy as np
import pyproj
import xarray as xr
from xarray.backends import BackendArray
from xarray.core import indexing

GRID_KEYS = (
    "gridType", "Nx", "Ny", "LaDInDegrees", "LoVInDegrees", "Latin1InDegrees", "Latin2InDegrees",
    "latitudeOfFirstGridPointInDegrees", "longitudeOfFirstGridPointInDegrees", "DxInMetres", "DyInMetres",
    "iScansNegatively", "jScansPositively",
)  # fmt: skip
PARAMETER_KEYS = (
    "discipline", "parameterCategory", "parameterNumber", "typeOfFirstFixedSurface", "scaledValueOfFirstFixedSurface",
    "productDefinitionTemplateNumber", "typeOfStatisticalProcessing",
)  # fmt: skip
VARIABLE_KEYS = ("paramId", "shortName", "units", "name", "cfName", "typeOfLevel", "level", "stepType")


def crs_of(attrs: dict) -> pyproj.CRS:
    """The Lambert conformal CRS of a cfgrib variable's ``GRIB_*`` attributes."""
    try:
        return pyproj.CRS.from_proj4(
            f"+proj=lcc +lat_0={attrs['GRIB_LaDInDegrees']} +lon_0={attrs['GRIB_LoVInDegrees']} "
            f"+lat_1={attrs['GRIB_Latin1InDegrees']} +lat_2={attrs['GRIB_Latin2InDegrees']} "
            f"+x_0=0 +y_0=0 +R={EARTH_RADIUS:.0f} +units=m +no_defs"
        )
    except KeyError as error:
        raise DataError(
            f"GRIB message without Lambert grid key {error}; expected CERRA's Lambert conformal grid"
        ) from error


@dataclass
class _Message:
    name: str
    time: np.datetime64
    step: float
    offset: int
    level: tuple


def _scan(path: Path) -> tuple[list[_Message], dict, dict[str, dict]]:
    """Headers of every message: (messages, grid keys of the first, per-variable attributes)."""
    messages, grid, attrs, names = [], {}, {}, {}
    with open(path, "rb") as handle:
        for h in grib_messages(handle, path):
            # cfVarName is a computed concept (about 1 ms a message): look it up once per parameter
            param = tuple(eccodes.codes_get(h, k) if eccodes.codes_is_defined(h, k) else None for k in PARAMETER_KEYS)
            name = names.get(param)
            if name is None:
                name = names[param] = eccodes.codes_get(h, "cfVarName")
            date, hhmm = eccodes.codes_get(h, "dataDate"), eccodes.codes_get(h, "dataTime")
            time = np.datetime64(
                f"{date // 10000:04d}-{date // 100 % 100:02d}-{date % 100:02d}T{hhmm // 100:02d}:{hhmm % 100:02d}",
                "ns",
            )
            step = float(eccodes.codes_get(h, "endStep"))
            offset = eccodes.codes_get(h, "offset")
            level = (param[3], eccodes.codes_get(h, "level"))
            if not grid:
                grid = {k: eccodes.codes_get(h, k) for k in GRID_KEYS if eccodes.codes_is_defined(h, k)}
            if name not in attrs:
                attrs[name] = {
                    f"GRIB_{k}": eccodes.codes_get(h, k) for k in VARIABLE_KEYS if eccodes.codes_is_defined(h, k)
                }
                attrs[name].update(
                    units=attrs[name].get("GRIB_units", ""), long_name=attrs[name].get("GRIB_name", name)
                )
                attrs[name].update({f"GRIB_{k}": v for k, v in grid.items()})
            messages.append(_Message(name, time, step, offset, level))
    return messages, grid, attrs


class _Fields(BackendArray):
    """``[T, Ny, Nx]`` float32 of one variable, decoded from the messages at ``offsets`` (-1: missing, NaN)."""

    def __init__(self, path: Path, offsets: np.ndarray, ny: int, nx: int):
        self.path, self.offsets = path, offsets
        self.shape = (len(offsets), ny, nx)
        self.dtype = np.dtype(np.float32)

    def __getitem__(self, key):
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.OUTER, self._read)

    def _read(self, key: tuple) -> np.ndarray:
        t, y, x = key
        offsets = self.offsets[t]
        scalar = np.ndim(offsets) == 0
        offsets = np.atleast_1d(offsets)
        out = None
        with open(self.path, "rb") as handle:
            for i, offset in enumerate(offsets):
                if offset < 0:
                    field = np.full(self.shape[1:], np.nan, np.float32)
                else:
                    handle.seek(int(offset))
                    h = eccodes.codes_grib_new_from_file(handle)
                    if h is None:
                        raise EOFError(f"no GRIB message at byte {offset}")
                    try:
                        field = eccodes.codes_get_values(h).astype(np.float32).reshape(self.shape[1:])
                        if eccodes.codes_get(h, "bitmapPresent"):
                            field[field == eccodes.codes_get(h, "missingValue")] = np.nan
                    finally:
                        eccodes.codes_release(h)
                part = field[y][..., x] if not isinstance(y, (int, np.integer)) else field[y][x]
                if out is None:
                    out = np.empty((len(offsets), *np.shape(part)), np.float32)
                out[i] = part
        if out is None:
            out = np.empty((0, *np.empty(self.shape[1:])[y][..., x].shape), np.float32)
        return out[0] if scalar else out


def open_cerra(path: str | Path) -> xr.Dataset:
    """All fields of one CERRA GRIB2 file as one lazy dataset on ``(time, y, x)`` (see module doc)."""

    path = Path(path)
    if sniff(path) != "grib":
        raise DataError(f"{path}: expected a GRIB file (CERRA); rerun its download")
    try:
        messages, grid, attrs = _scan(path)
    except DataError:
        raise
    except Exception as error:  # eccodes raises many types for corrupt files
        raise DataError(
            f"{path}: cannot be read as GRIB ({error}); the file is truncated or corrupt. "
            "Delete it and rerun its download"
        ) from error
    if not messages:
        raise DataError(f"{path}: the GRIB file holds no fields; rerun its download")
    if grid.get("gridType") != "lambert":
        raise DataError(f"{path}: grid type {grid.get('gridType')!r}, expected CERRA's 'lambert'")
    if int(grid.get("iScansNegatively", 0)):
        raise DataError(f"{path}: points scan west-wards (iScansNegatively = 1); expected CERRA's east-ward scanning")
    steps = {m.step for m in messages if m.step}
    if len(steps) > 1:
        raise DataError(
            f"{path}: forecast fields with several steps {sorted(steps)}; expected one accumulation period per file"
        )
    times = np.unique([m.time for m in messages])
    names = list(dict.fromkeys(m.name for m in messages))
    ny, nx = int(grid["Ny"]), int(grid["Nx"])
    data_vars = {}
    for name in names:
        levels = {m.level for m in messages if m.name == name}
        if len(levels) > 1:
            raise DataError(
                f"{path}: {name} on {len(levels)} levels; request one level per variable (single-level CERRA fields)"
            )
        offsets = np.full(len(times), -1, np.int64)
        for m in messages:
            if m.name == name:
                i = np.searchsorted(times, m.time)
                if offsets[i] >= 0:
                    raise DataError(
                        f"{path}: {name} appears twice at {str(m.time)[:16]} (duplicated times); "
                        "delete it and rerun its download"
                    )
                offsets[i] = m.offset
        lazy = indexing.LazilyIndexedArray(_Fields(path, offsets, ny, nx))
        data_vars[name] = xr.Variable(("time", "y", "x"), lazy, attrs[name])
    crs = crs_of({f"GRIB_{k}": v for k, v in grid.items()})
    to_xy = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    lat0 = float(grid["latitudeOfFirstGridPointInDegrees"])
    lon0 = float(grid["longitudeOfFirstGridPointInDegrees"])
    x0, y0 = to_xy.transform(((lon0 + 180) % 360) - 180, lat0)
    dx, dy = float(grid["DxInMetres"]), float(grid["DyInMetres"])
    sign_y = 1.0 if int(grid.get("jScansPositively", 1)) else -1.0
    x = np.round(x0 + dx * np.arange(nx), 1)
    y = np.round(y0 + sign_y * dy * np.arange(ny), 1)
    lon, lat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(
        *np.meshgrid(x0 + dx * np.arange(nx), y0 + sign_y * dy * np.arange(ny))
    )
    coords = {
        "time": ("time", times),
        "x": ("x", x, {"units": "m", "standard_name": "projection_x_coordinate"}),
        "y": ("y", y, {"units": "m", "standard_name": "projection_y_coordinate"}),
        "latitude": (("y", "x"), lat, {"units": "degrees_north", "standard_name": "latitude"}),
        "longitude": (("y", "x"), lon, {"units": "degrees_east", "standard_name": "longitude"}),
    }
    ds = xr.Dataset(data_vars, coords=coords, attrs={"crs_wkt": crs.to_wkt(), "source_file": str(path)})
    if steps:
        ds.attrs["step_hours"] = steps.pop()
    return ds


def read_values(ds: xr.Dataset, name: str, time: slice = slice(None)) -> np.ndarray:
    """Load one variable ``[T, y, x]`` (float32), at the time steps ``time`` (default: all); a GRIB message that
    cannot be decoded is a DataError naming the file."""
    try:
        return ds[name].isel(time=time).values.astype(np.float32, copy=False)
    except Exception as error:  # eccodes raises many types for truncated messages
        raise DataError(
            f"{ds.attrs.get('source_file')}: cannot decode {name} ({type(error).__name__}: {error}); "
            "the file is truncated or corrupt. Delete it and rerun its download"
        ) from error
