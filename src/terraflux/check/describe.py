"""Cheap looks at a raw file for the check: its format, time span, grid and the extremes of a variable.

:func:`scan` reads a variable a block of time steps at a time (at most :data:`BLOCK_VALUES` values in memory) and
keeps what the prepare jobs' checks need: the smallest and largest value, the first and last time step and the
points with data in every step. The jobs load a whole month; the check never does.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Formatter

from terraflux.prepare import grid
from terraflux.sources.formats.sniff import sniff

import numpy as np
import pandas as pd

#: Values read at a time by :func:`scan` (16 MB of float32).
BLOCK_VALUES = 1 << 22
#: What a raw-path template's fields match in a file name.
NAME_FIELDS = {"year": r"(?P<year>\d{4})", "month": r"(?P<month>\d{2})", "week": r"(?P<week>\d{3})"}


def file_format(path: str | Path) -> str:
    """``NetCDF4``, ``NetCDF3``, ``GRIB edition N`` or ``zip holding <members>``, from the file's first bytes
    (:func:`~terraflux.sources.formats.sniff.sniff`: a missing, empty or unknown file is its DataError)."""
    kind = sniff(path)
    if kind == "grib":
        with open(path, "rb") as handle:
            return f"GRIB edition {handle.read(8)[7]}"
    if kind == "zip":
        try:
            with zipfile.ZipFile(path) as archive:
                return f"zip holding {', '.join(archive.namelist())}"
        except zipfile.BadZipFile:
            return "zip"  # the reader names the problem
    return {"netcdf4": "NetCDF4", "netcdf3": "NetCDF3"}[kind]


def duration(step: pd.Timedelta) -> str:
    """``'1 h'``, ``'3 h'``, ``'1 day'``, ``'7 days'``."""
    hours = step / pd.Timedelta(hours=1)
    if hours % 24:
        return f"{hours:g} h"
    return f"{hours / 24:g} day" + ("s" if hours != 24 else "")


def time_span(times: np.ndarray) -> str:
    """``'2016-01-01 00:00 .. 2016-01-31 23:00, 744 steps of 1 h'`` for sorted ``times`` [T]."""
    stamps = pd.DatetimeIndex(times)
    if len(stamps) == 1:
        return f"{stamps[0]:%Y-%m-%d %H:%M}, 1 step"
    step = pd.Timedelta(np.median(np.diff(stamps.asi8)))
    return f"{stamps[0]:%Y-%m-%d %H:%M} .. {stamps[-1]:%Y-%m-%d %H:%M}, {len(stamps)} steps of {duration(step)}"


def spacing(values: np.ndarray) -> float:
    """The smallest distance between neighbouring coordinates (0 for a single one)."""
    return float(np.abs(np.diff(np.asarray(values, dtype=np.float64))).min()) if len(values) > 1 else 0.0


def grid_text(coords: Mapping[str, np.ndarray], units: str) -> str:
    """``'latitude 6 points 48..47.5, longitude 8 points 8..8.7; spacing 0.1 degrees'``."""
    steps = sorted({f"{spacing(values):.5g}" for values in coords.values() if len(values) > 1})
    return f"{grid.describe(coords)}; spacing {' x '.join(steps) or 'none (one point)'} {units}"


def extremes_text(name: str, units: str | None, low: float, high: float) -> str:
    """``'t2m (K) 251.3 .. 289.9'`` (``no value`` when ``low`` is NaN)."""
    label = f"{name} ({units})" if units else name
    return f"{label} no value" if np.isnan(low) else f"{label} {low:.6g} .. {high:.6g}"


@dataclass
class Scan:
    """What one pass over a variable ``[T, ...]`` found: extremes (NaN when it has no value), the first and last
    time step, the points with data in every step, and how many values are not missing of how many."""

    low: float
    high: float
    first: np.ndarray
    last: np.ndarray
    everywhere: np.ndarray
    present: int
    size: int


def scan(read: Callable[[slice], np.ndarray], steps: int, shape: tuple[int, ...]) -> Scan:
    """:class:`Scan` of a variable of ``steps`` time steps of ``shape`` each; ``read(time)`` returns the steps in
    the slice ``time`` as an array ``[t, *shape]`` (NaN = missing), called once per block of time steps."""
    per_block = max(1, BLOCK_VALUES // max(1, int(np.prod(shape))))
    low = high = float("nan")
    first = last = None
    everywhere = np.ones(shape, bool)
    present = 0
    for start in range(0, steps, per_block):
        block = np.asarray(read(slice(start, min(start + per_block, steps))), dtype=np.float32)
        low = float(np.fmin(low, np.fmin.reduce(block, axis=None)))
        high = float(np.fmax(high, np.fmax.reduce(block, axis=None)))
        finite = np.isfinite(block)
        everywhere &= finite.all(axis=0)
        present += int(finite.sum())
        first = block[0].copy() if first is None else first
        last = block[-1].copy()
    empty = np.full(shape, np.nan, np.float32)
    return Scan(
        low, high, empty if first is None else first, empty if last is None else last, everywhere, present,
        steps * int(np.prod(shape)),
    )  # fmt: skip


def name_pattern(template: str) -> re.Pattern:
    """The file names of a raw-path template (its last part): ``{year}``, ``{month}``, ``{week}`` as digits
    (:data:`NAME_FIELDS`), other fields as any text without ``/``."""
    name = template.rsplit("/", 1)[-1]
    parts = [
        re.escape(text) + (NAME_FIELDS.get(field, r"[^/]+") if field else "")
        for text, field, _, _ in Formatter().parse(name)
    ]
    return re.compile("^" + "".join(parts) + "$")


def month_in_name(path: str | Path, templates: Iterable[str]) -> tuple[int, int] | None:
    """(year, month) of a file named as one of the raw-path ``templates`` names a month's file, else None."""
    for template in templates:
        match = name_pattern(template).match(Path(path).name)
        if match:
            return int(match["year"]), int(match["month"])
    return None


def month_of(path: str | Path, templates: Iterable[str], times: np.ndarray) -> tuple[int, int]:
    """The month a file belongs to: from its name (:func:`month_in_name`), else that of its first time step."""
    found = month_in_name(path, templates)
    if found is not None:
        return found
    first = pd.Timestamp(times[0])
    return first.year, first.month
