"""ERA5-Land files as the new Climate Data Store delivers them (layout of the real sample).

Hourly (``reanalysis-era5-land``), one NetCDF4 file per month with all configured variables:
dims ``valid_time`` (int64 seconds since 1970), ``latitude`` (descending), ``longitude``; scalar coord
``number``; ``expver(valid_time)`` strings ('0001', or '0005' for ERA5T months); data float32 with NaN
fill over sea, zlib level 1 + shuffle, chunks of one time step; ``GRIB_*`` attributes per variable;
global ``Conventions = CF-1.7``. Accumulated variables (tp, ssrd, e, ...) accumulate from 00 UTC: the
value at hour h is the amount since 00 UTC of that day, the 00 UTC value is the whole previous day.

Deliveries (as the CDS answers): ``sources.era5_land.data_format: grib`` writes GRIB1 instead (all
messages ``dataType=fc`` from 00 UTC base times, steps 1..24 h; accumulations over 0..step), and
``synthetic.era5_land_zip`` writes a zip of ``data_stream-oper_stepType-{instant,accum}.nc`` (what the
CDS returns for mixed step types); both under the ``.nc`` name: readers sniff the first bytes.

Daily statistics (``derived-era5-land-daily-statistics``), one zip per month holding one NetCDF per
variable, ``{cds_name}_{daily_statistic}.nc``, same layout with one ``valid_time`` per day (00 UTC);
for accumulated variables the statistic is taken over the hourly amounts.
"""

from __future__ import annotations

import calendar
import datetime as dt
import zipfile
from pathlib import Path

import netCDF4
import numpy as np

from terraflux.synthetic.variables import Era5Var
from terraflux.synthetic.weather import Weather

GRIB_MISSING = 3.4028234663852886e38
CFGRIB_HISTORY = 'GRIB to CDM+CF via cfgrib-0.9.14.1/ecCodes-2.36.0 with {"source": "data.grib", "filter_by_keys": {}, "encode_cf": ["parameter", "time", "geography", "vertical"]}'
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def month_hours(year: int, month: int) -> np.ndarray:
    """Valid times of a month's request (days 1..n, 00..23 UTC), int64 hours since 1970."""
    start = (dt.datetime(year, month, 1) - dt.datetime(1970, 1, 1)).days * 24
    return np.arange(start, start + 24 * calendar.monthrange(year, month)[1], dtype=np.int64)


def accumulate_from_midnight(first_hour: int, amounts: np.ndarray) -> np.ndarray:
    """Accumulate hourly amounts [T, ...] (amount of the hour ending at first_hour + t) from 00 UTC:
    each valid time gets the sum since the previous 00 UTC (exclusive); 00 UTC closes the day."""
    hours = first_hour + np.arange(amounts.shape[0])
    day = (hours - 1) // 24
    total = np.cumsum(amounts, axis=0, dtype=np.float64)
    start = np.searchsorted(day, day, side="left")
    before = np.where(start[:, None] > 0, total[np.maximum(start - 1, 0)].reshape(len(hours), -1), 0.0)
    return (total.reshape(len(hours), -1) - before).reshape(amounts.shape).astype(np.float32)


def era5_fields(world, hours: np.ndarray, variables: list[Era5Var]) -> dict[str, np.ndarray]:
    """The configured variables at valid ``hours`` on the ERA5-Land grid, as the files hold them:
    float32 [T, ny, nx], accumulated from 00 UTC, NaN over sea."""
    grid = world.era5_grid
    points = world.points("era5_land", *grid.mesh())
    accum = any(v.step_type == "accum" for v in variables)
    first = int(hours[0]) - (23 if accum else 0)
    span = np.arange(first, int(hours[-1]) + 1, dtype=np.int64)
    weather = Weather(points, span)
    sea = ~world.land_mask
    keep = np.searchsorted(span, hours)
    out = {}
    for var in variables:
        values = weather.get(var.short).reshape((span.size,) + grid.shape)
        if var.step_type == "accum":
            values = accumulate_from_midnight(first, values)
        values = values[keep]
        values[:, sea] = np.nan
        out[var.short] = values
    return out


def _grib_attrs(var: Era5Var, grid, step_type: str | None = None) -> dict:
    ny, nx = grid.shape
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
        "GRIB_iDirectionIncrementInDegrees": np.float64(0.1),
        "GRIB_iScansNegatively": np.int64(0),
        "GRIB_jDirectionIncrementInDegrees": np.float64(0.1),
        "GRIB_jPointsAreConsecutive": np.int64(0),
        "GRIB_jScansPositively": np.int64(0),
        "GRIB_latitudeOfFirstGridPointInDegrees": np.float64(grid.lat[0]),
        "GRIB_latitudeOfLastGridPointInDegrees": np.float64(grid.lat[-1]),
        "GRIB_longitudeOfFirstGridPointInDegrees": np.float64(grid.lon[0]),
        "GRIB_longitudeOfLastGridPointInDegrees": np.float64(grid.lon[-1]),
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


def write_netcdf(path: str | Path, grid, seconds: np.ndarray, expver: list[str], fields: list[tuple[Era5Var, np.ndarray]],
                 history_date: dt.datetime, step_type: str | None = None) -> None:
    """One NetCDF4 file in the new-CDS layout (see the module docstring)."""
    ny, nx = grid.shape
    with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
        nc.setncatts({
            "GRIB_centre": "ecmf",
            "GRIB_centreDescription": "European Centre for Medium-Range Weather Forecasts",
            "GRIB_subCentre": np.int64(0),
            "Conventions": "CF-1.7",
            "institution": "European Centre for Medium-Range Weather Forecasts",
            "history": f"{history_date:%Y-%m-%dT%H:%M} {CFGRIB_HISTORY}",
        })
        nc.createDimension("valid_time", len(seconds))
        nc.createDimension("latitude", ny)
        nc.createDimension("longitude", nx)
        number = nc.createVariable("number", "i8", ())
        number.setncatts({"long_name": "ensemble member numerical id", "units": "1", "standard_name": "realization"})
        number.assignValue(0)
        vt = nc.createVariable("valid_time", "i8", ("valid_time",))
        vt.setncatts({"long_name": "time", "standard_name": "time", "units": "seconds since 1970-01-01", "calendar": "proleptic_gregorian"})
        vt[:] = seconds
        lat = nc.createVariable("latitude", "f8", ("latitude",), fill_value=np.nan)
        lat.setncatts({"units": "degrees_north", "standard_name": "latitude", "long_name": "latitude", "stored_direction": "decreasing"})
        lat[:] = grid.lat
        lon = nc.createVariable("longitude", "f8", ("longitude",), fill_value=np.nan)
        lon.setncatts({"units": "degrees_east", "standard_name": "longitude", "long_name": "longitude"})
        lon[:] = grid.lon
        ev = nc.createVariable("expver", str, ("valid_time",))
        ev[:] = np.array(expver, dtype=object)
        for var, values in fields:
            data = nc.createVariable(var.short, "f4", ("valid_time", "latitude", "longitude"), zlib=True, complevel=1,
                                     shuffle=True, chunksizes=(1, ny, nx), fill_value=np.float32(np.nan))
            data.setncatts(_grib_attrs(var, grid, step_type))
            data[:] = values


def expver_for(world, year: int, month: int, n: int) -> list[str]:
    """'0005' (ERA5T) for the last ``synthetic.era5t_months`` months of the period, else '0001'."""
    last = world.spec.years[-1] * 12 + 11
    months_left = last - (year * 12 + month - 1)
    return ["0005" if months_left < int(world.spec.knobs.get("era5t_months", 0)) else "0001"] * n


def write_hourly_month(path: str | Path, world, year: int, month: int, variables: list[Era5Var], hours_utc: list[int],
                       data_format: str = "netcdf", as_zip: bool = False) -> None:
    """The month's hourly file (all configured variables, the configured UTC hours): NetCDF4, GRIB1
    (``data_format='grib'``) or a zip of one NetCDF4 per step type (``as_zip``)."""
    hours = month_hours(year, month)
    hours = hours[np.isin(hours % 24, hours_utc)]
    fields = era5_fields(world, hours, variables)
    if data_format == "grib":
        write_grib(path, world.era5_grid, hours, [(v, fields[v.short]) for v in variables])
        return
    seconds = hours * 3600
    history = dt.datetime(year, month, 1) + dt.timedelta(days=calendar.monthrange(year, month)[1] + 5, hours=12)
    expver = expver_for(world, year, month, len(hours))
    if not as_zip:
        write_netcdf(path, world.era5_grid, seconds, expver, [(v, fields[v.short]) for v in variables], history)
        return
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for step_type in ("instant", "accum"):
            group = [(v, fields[v.short]) for v in variables if v.step_type == step_type]
            if not group:
                continue
            member = Path(f"{path}.data_stream-oper_stepType-{step_type}.nc")
            write_netcdf(member, world.era5_grid, seconds, expver, group, history)
            info = zipfile.ZipInfo(f"data_stream-oper_stepType-{step_type}.nc", date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.read_bytes())
            member.unlink()


def write_grib(path: str | Path, grid, hours: np.ndarray, fields: list[tuple[Era5Var, np.ndarray]]) -> None:
    """ERA5-Land as GRIB1 from the CDS: ``dataType=fc``, base time 00 UTC of the day before each valid
    hour's interval, step 1..24 h (valid 00 UTC = previous day's base + 24 h); accumulated fields over
    0..step (= accumulation from 00 UTC); sea as GRIB missing values (bitmap)."""
    import eccodes  # late: pyproj is loaded first by terraflux

    ny, nx = grid.shape
    sample = eccodes.codes_grib_new_from_samples("regular_ll_sfc_grib1")
    handles = {}
    try:
        for key, value in (
            ("centre", "ecmf"), ("Ni", nx), ("Nj", ny),
            ("latitudeOfFirstGridPointInDegrees", float(grid.lat[0])), ("longitudeOfFirstGridPointInDegrees", float(grid.lon[0])),
            ("latitudeOfLastGridPointInDegrees", float(grid.lat[-1])), ("longitudeOfLastGridPointInDegrees", float(grid.lon[-1])),
            ("iDirectionIncrementInDegrees", 0.1), ("jDirectionIncrementInDegrees", 0.1), ("jScansPositively", 0),
            ("bitsPerValue", 16), ("bitmapPresent", 1), ("missingValue", 9999.0),
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
                    eccodes.codes_set_values(h, np.where(np.isnan(values[t]), 9999.0, values[t]).astype(np.float64).ravel())
                    eccodes.codes_write(h, out)
    finally:
        for h in handles.values():
            eccodes.codes_release(h)
        eccodes.codes_release(sample)


def daily_statistic(world, year: int, month: int, var: Era5Var, statistic: str) -> np.ndarray:
    """Daily mean/min/max [days, ny, nx] of hourly values (accumulated variables: hourly amounts)."""
    hours = month_hours(year, month)
    grid = world.era5_grid
    shift = 1 if var.step_type == "accum" else 0  # amounts of hours 00-01 .. 23-24 end at 01 .. 24
    weather = Weather(world.points("era5_land", *grid.mesh()), hours + shift)
    values = weather.get(var.short).reshape((len(hours) // 24, 24) + grid.shape)
    reduce = {"daily_mean": np.mean, "daily_minimum": np.min, "daily_maximum": np.max}[statistic]
    out = reduce(values, axis=1).astype(np.float32)
    out[:, ~world.land_mask] = np.nan
    return out


def write_daily_zip(path: str | Path, world, year: int, month: int, variables: list[Era5Var], statistic: str, tmpdir: Path) -> None:
    """The month's daily-statistics zip: one NetCDF per variable (fixed zip timestamps: reproducible)."""
    days = month_hours(year, month)[::24]
    history = dt.datetime(year, month, 1) + dt.timedelta(days=calendar.monthrange(year, month)[1] + 5, hours=12)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for var in variables:
            member = tmpdir / f"{var.request}_{statistic}.nc"
            write_netcdf(member, world.era5_grid, days * 3600, expver_for(world, year, month, len(days)),
                         [(var, daily_statistic(world, year, month, var, statistic))], history, step_type="instant")
            info = zipfile.ZipInfo(member.name, date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.read_bytes())
            member.unlink()

