"""CERRA GRIB2 files (CDS ``reanalysis-cerra-single-levels``) written from arrays with eccodes.

Messages carry CERRA's Lambert conformal grid keys (:mod:`terraflux.sources.cerra`) for a window of the grid
whose first (south-west) point is given; the real files hold the whole 1069 x 1069 grid. Analysis files have
one message per (time, variable) at step 0; forecast files hold accumulations over ``0..accumulation_hours``
after each base time (``stepType`` accum, product definition template 8), e.g. precipitation in kg m-2.
Values are packed with 16 bits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

from terraflux.sources.cerra import LAD, LATIN, LOV, SPACING, Variable

import numpy as np


def _template(nx: int, ny: int, lat0: float, lon0: float) -> int:
    """A GRIB2 handle with CERRA's Lambert grid set (the caller releases it)."""
    import eccodes  # late: pyproj is loaded first by terraflux

    h = eccodes.codes_grib_new_from_samples("GRIB2")
    eccodes.codes_set(h, "centre", "ecmf")
    eccodes.codes_set(h, "gridType", "lambert")
    for key, value in (
        ("shapeOfTheEarth", 6), ("Nx", nx), ("Ny", ny),
        ("latitudeOfFirstGridPointInDegrees", float(lat0)), ("longitudeOfFirstGridPointInDegrees", float(lon0 % 360.0)),
        ("LaDInDegrees", LAD), ("LoVInDegrees", LOV), ("Latin1InDegrees", LATIN), ("Latin2InDegrees", LATIN),
        ("DxInMetres", SPACING), ("DyInMetres", SPACING), ("iScansNegatively", 0), ("jScansPositively", 1),
        ("latitudeOfSouthernPoleInDegrees", -90.0), ("longitudeOfSouthernPoleInDegrees", 0.0),
    ):  # fmt: skip
        eccodes.codes_set(h, key, value)
    eccodes.codes_set(h, "bitsPerValue", 16)
    return h


def _handles(template: int, variables: Sequence[Variable], accumulation_hours: int | None) -> dict[str, int]:
    """One configured GRIB2 handle per variable (setting the parameter is slow: done once)."""
    import eccodes

    forecast = accumulation_hours is not None
    handles = {}
    eccodes.codes_set(template, "typeOfProcessedData", 1 if forecast else 0)
    if forecast:
        eccodes.codes_set(template, "productDefinitionTemplateNumber", 8)
    for var in variables:
        h = eccodes.codes_clone(template)
        eccodes.codes_set(h, "paramId", var.param_id)
        eccodes.codes_set(h, "typeOfLevel", var.type_of_level)
        eccodes.codes_set(h, "level", var.level)
        if forecast:
            eccodes.codes_set(h, "stepType", "accum")
            eccodes.codes_set(h, "startStep", 0)
            eccodes.codes_set(h, "endStep", accumulation_hours)
        handles[var.short] = h
    return handles


def grib(
    path: str | Path,
    nx: int,
    ny: int,
    first_point: tuple[float, float],
    variables: Sequence[Variable],
    base_hours: np.ndarray,
    fields: Mapping[str, np.ndarray],
    *,
    accumulation_hours: int | None,
) -> None:
    """One GRIB2 file: for each base time (``base_hours`` [T], int64 hours since 1970) every variable's field.

    ``first_point``: (latitude, longitude) of the window's south-west point, degrees; ``fields``: short name ->
    float32 ``[T, ny, nx]`` (or ``[T, ny * nx]``, rows south to north) in the variable's units;
    ``accumulation_hours``: None for analysis fields, else the forecast accumulation period.
    """
    import eccodes

    template = _template(nx, ny, *first_point)
    try:
        handles = _handles(template, variables, accumulation_hours)
    finally:
        eccodes.codes_release(template)
    try:
        with open(path, "wb") as out:
            for t, hour in enumerate(base_hours):
                when = dt.datetime(1970, 1, 1) + dt.timedelta(hours=int(hour))
                for var in variables:
                    h = handles[var.short]
                    eccodes.codes_set(h, "dataDate", int(when.strftime("%Y%m%d")))
                    eccodes.codes_set(h, "dataTime", when.hour * 100)
                    eccodes.codes_set_values(h, fields[var.short][t].astype(np.float64).ravel())
                    eccodes.codes_write(h, out)
    finally:
        for h in handles.values():
            eccodes.codes_release(h)
