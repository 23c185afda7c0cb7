"""ERA5-Land files in the layouts the Climate Data Store delivers, written from arrays.

- :func:`netcdf`: NetCDF4 of the new CDS (the layout of a real 2024 delivery): dims ``valid_time`` (int64
  seconds since 1970), ``latitude`` (descending), ``longitude``; scalar coord ``number``;
  ``expver(valid_time)`` strings; data float32 with NaN fill, zlib level 1 + shuffle, chunks of one time
  step; ``GRIB_*`` attributes per variable; global ``Conventions = CF-1.7`` and a cfgrib ``history``;
- :func:`netcdf3`: NetCDF3 of the pre-2024 CDS: ``time`` int32 hours since 1900-01-01, float32
  coordinates, data packed as int16 with ``scale_factor`` / ``add_offset``;
- :func:`grib`: GRIB1, all messages ``dataType=fc`` from 00 UTC base times with steps 1..24 h (valid 00 UTC
  = the previous day's base + 24 h), accumulated fields over steps 0..step, missing values in a bitmap;
- :func:`step_type_zip`: the zip of one NetCDF4 per step type the CDS sends for an hourly request that
  mixes instantaneous and accumulated fields;
- :func:`daily_zip`: the daily-statistics product, a zip of one NetCDF4 per variable (one ``valid_time``
  per day at 00 UTC).

``fields`` are ``(variable, values)`` pairs: a row of the table in :mod:`terraflux.sources.era5_land` and
float32 ``[T, ny, nx]`` in the file's units (accumulated fields already accumulated from 00 UTC; NaN where
the grid has no data). ``lat`` [ny] descending and ``lon`` [nx] are the grid's points, degrees.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from terraflux.sources.era5_land import DAILY_MEMBER, STEP, STEP_TYPE_MEMBER, Variable
from terraflux.sources.formats.zips import zip_files

import netCDF4
import numpy as np

Fields = Sequence[tuple[Variable, np.ndarray]]

GRIB_MISSING = 3.4028234663852886e38
CFGRIB_HISTORY = (
    'GRIB to CDM+CF via cfgrib-0.9.14.1/ecCodes-2.36.0 with {"source": "data.grib", "filter_by_keys": {}, '
    '"encode_cf": ["parameter", "time", "geography", "vertical"]}'
)


def delivery_time(year: int, month: int) -> dt.datetime:
    """When the CDS produced a month's file, as its ``history`` says: five and a half days after the month
    ends (ERA5-Land appears about five days behind real time)."""
    return dt.datetime(year, month, 1) + dt.timedelta(days=calendar.monthrange(year, month)[1] + 5, hours=12)


def grib_attrs(var: Variable, lat: np.ndarray, lon: np.ndarray, step_type: str | None = None) -> dict:
    """The attributes cfgrib gives a variable of the grid (``step_type`` overrides the variable's own)."""
    ny, nx = len(lat), len(lon)
    return {
        "GRIB_paramId": np.int64(var.param_id),
        "GRIB_dataType": "fc",
        "GRIB_numberOfPoints": np.int64(ny * nx),
        "GRIB_typeOfLevel": "surface",
        "GRIB_stepUnits": np.int64(1),
        "GRIB_stepType": step_type or var.step_type,
        "GRIB_gridType": "regular_ll",
        "GRIB_uvRelativeToGrid": np.int64(0),
        "GRIB_NV": np.int64(0),
        "GRIB_Nx": np.int64(nx),
        "GRIB_Ny": np.int64(ny),
        "GRIB_cfName": "unknown",
        "GRIB_cfVarName": var.short,
        "GRIB_gridDefinitionDescription": "Latitude/Longitude Grid",
        "GRIB_iDirectionIncrementInDegrees": np.float64(STEP),
        "GRIB_iScansNegatively": np.int64(0),
        "GRIB_jDirectionIncrementInDegrees": np.float64(STEP),
        "GRIB_jPointsAreConsecutive": np.int64(0),
        "GRIB_jScansPositively": np.int64(0),
        "GRIB_latitudeOfFirstGridPointInDegrees": np.float64(lat[0]),
        "GRIB_latitudeOfLastGridPointInDegrees": np.float64(lat[-1]),
        "GRIB_longitudeOfFirstGridPointInDegrees": np.float64(lon[0]),
        "GRIB_longitudeOfLastGridPointInDegrees": np.float64(lon[-1]),
        "GRIB_missingValue": np.float64(GRIB_MISSING),
        "GRIB_name": var.name,
        "GRIB_shortName": var.grib_short,
        "GRIB_totalNumber": np.int64(0),
        "GRIB_units": var.units,
        "long_name": var.name,
        "units": var.units,
        "standard_name": "unknown",
        "GRIB_surface": np.float64(0.0),
        "coordinates": "number valid_time latitude longitude expver",
    }


def netcdf(
    path: str | Path,
    lat: np.ndarray,
    lon: np.ndarray,
    seconds: np.ndarray,
    expver: Sequence[str],
    fields: Fields,
    history: dt.datetime,
    step_type: str | None = None,
) -> None:
    """One NetCDF4 file of the new CDS. ``seconds`` [T]: valid times, int64 seconds since 1970; ``expver`` [T];
    ``history``: when the CDS produced the file (:func:`delivery_time`); ``step_type`` overrides the
    variables' own ``GRIB_stepType`` (the daily product says 'instant')."""
    ny, nx = len(lat), len(lon)
    # fmt: off
    with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
        nc.setncatts({
            "GRIB_centre": "ecmf",
            "GRIB_centreDescription": "European Centre for Medium-Range Weather Forecasts",
            "GRIB_subCentre": np.int64(0),
            "Conventions": "CF-1.7",
            "institution": "European Centre for Medium-Range Weather Forecasts",
            "history": f"{history:%Y-%m-%dT%H:%M} {CFGRIB_HISTORY}",
        })
        nc.createDimension("valid_time", len(seconds))
        nc.createDimension("latitude", ny)
        nc.createDimension("longitude", nx)
        number = nc.createVariable("number", "i8", ())
        number.setncatts({"long_name": "ensemble member numerical id", "units": "1", "standard_name": "realization"})
        number.assignValue(0)
        vt = nc.createVariable("valid_time", "i8", ("valid_time",))
        vt.setncatts({"long_name": "time", "standard_name": "time", "units": "seconds since 1970-01-01",
                      "calendar": "proleptic_gregorian"})
        vt[:] = seconds
        la = nc.createVariable("latitude", "f8", ("latitude",), fill_value=np.nan)
        la.setncatts({"units": "degrees_north", "standard_name": "latitude", "long_name": "latitude",
                      "stored_direction": "decreasing"})
        la[:] = lat
        lo = nc.createVariable("longitude", "f8", ("longitude",), fill_value=np.nan)
        lo.setncatts({"units": "degrees_east", "standard_name": "longitude", "long_name": "longitude"})
        lo[:] = lon
        ev = nc.createVariable("expver", str, ("valid_time",))
        ev[:] = np.array(list(expver), dtype=object)
        for var, values in fields:
            data = nc.createVariable(var.short, "f4", ("valid_time", "latitude", "longitude"), zlib=True, complevel=1,
                                     shuffle=True, chunksizes=(1, ny, nx), fill_value=np.float32(np.nan))
            data.setncatts(grib_attrs(var, lat, lon, step_type))
            data[:] = values
    # fmt: on


def netcdf3(path: str | Path, lat: np.ndarray, lon: np.ndarray, hours_since_1900: np.ndarray, fields: Fields) -> None:
    """One NetCDF3 file of the pre-2024 CDS: each variable packed as int16 over its own range (fill -32767)."""
    with netCDF4.Dataset(path, "w", format="NETCDF3_64BIT_OFFSET") as nc:
        nc.Conventions = "CF-1.6"
        nc.institution = "European Centre for Medium-Range Weather Forecasts"
        nc.createDimension("time", len(hours_since_1900))
        nc.createDimension("latitude", len(lat))
        nc.createDimension("longitude", len(lon))
        tv = nc.createVariable("time", "i4", ("time",))
        tv.units = "hours since 1900-01-01 00:00:00.0"
        tv.calendar = "gregorian"
        tv[:] = hours_since_1900
        la = nc.createVariable("latitude", "f4", ("latitude",))
        la.units = "degrees_north"
        la[:] = lat
        lo = nc.createVariable("longitude", "f4", ("longitude",))
        lo.units = "degrees_east"
        lo[:] = lon
        for var, values in fields:
            low, high = np.nanmin(values), np.nanmax(values)
            packed = nc.createVariable(var.short, "i2", ("time", "latitude", "longitude"), fill_value=np.int16(-32767))
            packed.scale_factor = (high - low) / 65000 if high > low else 1.0
            packed.add_offset = (high + low) / 2
            packed.units = var.units
            packed.long_name = var.name
            packed[:] = np.ma.masked_invalid(values)  # netCDF4 packs with scale_factor / add_offset


def grib(path: str | Path, lat: np.ndarray, lon: np.ndarray, hours: np.ndarray, fields: Fields) -> None:
    """GRIB1 as the CDS delivers it: ``hours`` [T] are valid times (int64 hours since 1970); each is written
    from the 00 UTC base time of the day before its hour's interval; NaN as GRIB missing values."""
    import eccodes  # late: pyproj is loaded first by terraflux

    ny, nx = len(lat), len(lon)
    sample = eccodes.codes_grib_new_from_samples("regular_ll_sfc_grib1")
    handles = {}
    try:
        for key, value in (
            ("centre", "ecmf"),
            ("Ni", nx),
            ("Nj", ny),
            ("latitudeOfFirstGridPointInDegrees", float(lat[0])),
            ("longitudeOfFirstGridPointInDegrees", float(lon[0])),
            ("latitudeOfLastGridPointInDegrees", float(lat[-1])),
            ("longitudeOfLastGridPointInDegrees", float(lon[-1])),
            ("iDirectionIncrementInDegrees", STEP),
            ("jDirectionIncrementInDegrees", STEP),
            ("jScansPositively", 0),
            ("bitsPerValue", 16),
            ("bitmapPresent", 1),
            ("missingValue", 9999.0),
        ):
            eccodes.codes_set(sample, key, value)
        for var, _ in fields:
            h = eccodes.codes_clone(sample)
            eccodes.codes_set(h, "paramId", var.param_id)
            eccodes.codes_set(h, "stepType", var.step_type)
            handles[var.short] = h
        with open(path, "wb") as out:
            for t, hour in enumerate(hours):
                base = (int(hour) - 1) // 24 * 24
                when = dt.datetime(1970, 1, 1) + dt.timedelta(hours=base)
                for var, values in fields:
                    h = handles[var.short]
                    eccodes.codes_set(h, "dataDate", int(when.strftime("%Y%m%d")))
                    eccodes.codes_set(h, "dataTime", 0)
                    if var.step_type == "accum":
                        eccodes.codes_set(h, "startStep", 0)
                    eccodes.codes_set(h, "endStep", int(hour) - base)
                    eccodes.codes_set_values(
                        h, np.where(np.isnan(values[t]), 9999.0, values[t]).astype(np.float64).ravel()
                    )
                    eccodes.codes_write(h, out)
    finally:
        for h in handles.values():
            eccodes.codes_release(h)
        eccodes.codes_release(sample)


def step_type_zip(
    path: str | Path,
    lat: np.ndarray,
    lon: np.ndarray,
    seconds: np.ndarray,
    expver: Sequence[str],
    fields: Fields,
    history: dt.datetime,
) -> None:
    """The zip of one :func:`netcdf` per step type (instant, accum), members named as
    :data:`~terraflux.sources.era5_land.STEP_TYPE_MEMBER`."""
    files, names = [], []
    for step_type in ("instant", "accum"):
        group = [(var, values) for var, values in fields if var.step_type == step_type]
        if group:
            name = STEP_TYPE_MEMBER.format(step_type=step_type)
            files.append(Path(f"{path}.{name}"))
            names.append(name)
            netcdf(files[-1], lat, lon, seconds, expver, group, history)
    zip_files(path, files, names)


def daily_zip(
    path: str | Path,
    lat: np.ndarray,
    lon: np.ndarray,
    seconds: np.ndarray,
    expver: Sequence[str],
    fields: Fields,
    statistic: str,
    history: dt.datetime,
    tmpdir: Path,
) -> None:
    """The daily-statistics zip: one :func:`netcdf` per variable, ``{request}_{statistic}.nc``, written in
    ``tmpdir`` first; ``seconds`` [D] are the days' 00 UTC."""
    files = []
    for var, values in fields:
        files.append(Path(tmpdir) / DAILY_MEMBER.format(request=var.request, statistic=statistic))
        netcdf(files[-1], lat, lon, seconds, expver, [(var, values)], history, step_type="instant")
    zip_files(path, files)


def hourly_month(
    path: str | Path,
    lat: np.ndarray,
    lon: np.ndarray,
    hours: np.ndarray,
    expver: Sequence[str],
    fields: Fields,
    history: dt.datetime,
    *,
    data_format: str,
    as_zip: bool,
) -> None:
    """One month of the hourly product as the CDS delivers it: NetCDF4, GRIB1 (``data_format='grib'``) or the
    zip of per-step-type NetCDF4 files (``as_zip``). ``hours`` [T]: valid times, int64 hours since 1970."""
    if data_format == "grib":
        grib(path, lat, lon, hours, fields)
    elif as_zip:
        step_type_zip(path, lat, lon, hours * 3600, expver, fields, history)
    else:
        netcdf(path, lat, lon, hours * 3600, expver, fields, history)
