"""Plausibility of the gridded inputs while preparing: data present, and every value inside its physical range.

The prepare steps of ERA5-Land, CERRA and NOAA VHP call :func:`check` on each variable of each file they read
(one month of ERA5-Land or CERRA, one VHP week), before reducing it, and :func:`require_any` on the month's
mask of points with data. A file stops the job with a :class:`~terraflux.errors.DataError` that names it, the
variable and what to do when:

- a variable has no value at all (every point missing: a region over sea, an empty download);
- the month's mask of points with data is empty (nothing would be written but NaN);
- a variable's smallest or largest value lies outside its plausible range (values in other units or scales,
  such as temperatures in degC labelled K, or a corrupt file). A bound holds with a tolerance of 0.1 % of the
  range's span, for the packing error of GRIB and NetCDF files.

Ranges: the sources' ``PLAUSIBLE`` tables (:data:`terraflux.sources.era5_land.PLAUSIBLE`, ``cerra.PLAUSIBLE``,
``vhp.PLAUSIBLE``; reasons in :mod:`terraflux.sources.limits`). Config ``prepare.plausibility`` replaces the
range of a variable (``era5_land: {t2m: [200, 330]}``) or turns the range checks off (``check: false``); the
checks for missing data always run. Cost: one pass for the minimum and one for the maximum of each array.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from terraflux.errors import DataError
from terraflux.sources.checks import PLAUSIBLE
from terraflux.sources.limits import Range

import numpy as np

#: Relative tolerance of a bound (share of the range's span).
TOLERANCE = 1e-3


@dataclass(frozen=True)
class Checks:
    """What to check in one source's files: ``ranges`` per short name (empty: no range check)."""

    source: str
    ranges: Mapping[str, Range] = field(default_factory=dict)


def for_source(source: str, settings: Mapping | None = None) -> Checks:
    """The checks of ``source``'s files (``'era5_land'``, ``'cerra'``, ``'vhp'``): its table with the overrides of
    ``settings`` (config ``prepare.plausibility``: ``check``, and ``[low, high]`` per short name under the
    source's key) applied; no range with ``check: false``. ``settings`` None: the table as it is."""
    settings = settings or {}
    if not settings.get("check", True):
        return Checks(source)
    table = dict(PLAUSIBLE[source])
    for name, (low, high) in (settings.get(source) or {}).items():
        base = table.get(name)
        table[name] = Range(
            float(low), float(high), base.units if base else "", f"config prepare.plausibility.{source}"
        )
    return Checks(source, table)


def check(values: np.ndarray, name: str, file: str, checks: Checks, require_data: bool = True) -> None:
    """Stop unless ``values`` (any shape, float, NaN = missing) of variable ``name`` read from ``file`` hold data
    (when ``require_data``) and lie inside the range of ``name`` in ``checks`` (if it has one)."""
    low = float(np.fmin.reduce(values, axis=None)) if values.size else float("nan")
    has_range = not np.isnan(low) and name in checks.ranges
    high = float(np.fmax.reduce(values, axis=None)) if has_range else float("nan")
    check_extremes(low, high, name, file, checks, require_data)


def check_extremes(low: float, high: float, name: str, file: str, checks: Checks, require_data: bool = True) -> None:
    """:func:`check` from the smallest and largest value of ``name`` in ``file`` (NaN: no value at all), for
    values reduced elsewhere (e.g. block by block, ``terraflux.check``)."""
    if np.isnan(low):
        if require_data:
            raise DataError(
                f"{file}: {name} has no value at all (every point is missing). Check that config `region` covers "
                "land where the source has data; otherwise the file is empty or corrupt: delete it and rerun its "
                "download"
            )
        return
    allowed = checks.ranges.get(name)
    if allowed is None:
        return
    slack = TOLERANCE * (allowed.high - allowed.low)
    if low < allowed.low - slack or high > allowed.high + slack:
        units = "" if allowed.units in ("", "1") else f" {allowed.units}"
        raise DataError(
            f"{file}: {name} ranges from {low:.6g} to {high:.6g}{units}, outside its plausible range "
            f"{allowed.low:g} .. {allowed.high:g}{units} ({allowed.reason}). The file holds values in other "
            "units or scales (e.g. degC labelled K) or is corrupt: delete it and rerun its download. If the values "
            f"are right, set config prepare.plausibility.{checks.source}.{name}: [low, high]"
        )


def require_any(mask: np.ndarray, file: str, what: str) -> None:
    """Stop when boolean ``mask`` (the points of ``file`` with ``what``) is empty."""
    if not mask.any():
        raise DataError(
            f"{file}: no grid point has {what}, so the prepared store would hold no data. Check that config "
            "`region` covers land where the source has data; otherwise delete the file and rerun its download"
        )
