"""Land-cover files written from arrays: the CDS ``satellite-land-cover`` zip of a class map (one NetCDF4 inside,
in the layout of a real area-subset delivery, :func:`lccs_zip`) and the ESA CCI PFT product file
(:func:`pft_netcdf`).

The NetCDF has the real file's global attributes, variables, dtypes and (odd) dimension layout:
``lccs_class(time, lat, lon)`` uint8 with ``flag_values`` / ``flag_meanings`` / ``flag_colors``,
``processed_flag``, ``current_pixel_state``, ``observation_count``, ``change_count``, ``crs(lon)``,
``lat_bounds(lon, lat, bounds)``, ``lon_bounds(lon, bounds)``, ``time_bounds(lon, time, bounds)``; 1/360 degree
pixels, latitude descending; zlib level 5 + shuffle.

The PFT product (Land_Cover_cci PFT v2.0.8; Harper et al., Earth Syst. Sci. Data 15, 1465-1499, 2023,
https://doi.org/10.5194/essd-15-1465-2023) is one global NetCDF4 per year, 64800 x 129600 pixels of 1/360 degree:
the 14 PFT percentages (``TREES-BE`` ... ``SNOWICE``, uint8, 0..100) on ``(time, lat, lon)``, latitude descending.
:func:`pft_netcdf` writes that layout for any window of the global grid, in tiles of 2025 x 2025 pixels (the
ESA CCI maps' ``TileSize``), so that a test can give it the product's global coordinates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

from terraflux.sources.formats.zips import zip_files
from terraflux.sources.land_cover import (
    CLASS_SNOW_ICE,
    CLASS_WATER,
    FLAG_COLORS,
    FLAG_MEANINGS,
    FLAG_VALUES,
    PFT_VERSION,
    PIXELS_PER_DEGREE,
    member_name,
    product,
)

import netCDF4
import numpy as np

WGS84_WKT = (
    'GEOGCS["WGS 84", \n  DATUM["World Geodetic System 1984", \n    SPHEROID["WGS 84", 6378137.0, 298.257223563, '
    'AUTHORITY["EPSG","7030"]], \n    AUTHORITY["EPSG","6326"]], \n'
    '  PRIMEM["Greenwich", 0.0, AUTHORITY["EPSG","8901"]], \n'
    '  UNIT["degree", 0.017453292519943295], \n  AXIS["Geodetic longitude", EAST], \n'
    '  AXIS["Geodetic latitude", NORTH], \n'
    '  AUTHORITY["EPSG","4326"]]'
)
COMPRESSION = dict(zlib=True, complevel=5, shuffle=True)
#: Pixels per side of the tiles (NetCDF chunks) of the ESA CCI maps (their global attribute ``TileSize``).
TILE = 2025


def _global_attrs(year: int, tracking_id: str, creation_date: str) -> dict:
    prefix, release = product(year)
    return {
        "title": f"Land Cover Map of {year}",
        "summary": "This dataset characterizes the land cover of a particular year (see time_coverage). The land "
                   "cover was derived from the analysis of satellite data time series of the full period.",
        "type": prefix, "references": "https://cds.climate.copernicus.eu/", "institution": "UCLouvain",
        "contact": "copernicus-support@ecmwf.int", "comment": "", "Conventions": "CF-1.6",
        "standard_name_vocabulary": "NetCDF Climate and Forecast (CF) Standard Names version 21",
        "keywords": "land cover classification,satellite,observation",
        "keywords_vocabulary": "NASA Global Change Master Directory (GCMD) Science Keywords",
        "license": "EC C3S Land cover Data Policy", "naming_authority": "", "cdm_data_type": "grid",
        "TileSize": "2025:2025",
        "tracking_id": tracking_id,
        "product_version": release, "creation_date": creation_date, "creator_name": "UCLouvain",
        "creator_url": "http://www.uclouvain.be/", "creator_email": "landcover-cci@uclouvain.be",
        "history": "lc-sr-1.0, lc-classification-1.0,lc-user-tools-3.14,lc-user-tools-4.5",
        "time_coverage_start": f"{year}0101", "time_coverage_end": f"{year}1231", "time_coverage_duration": "P1Y",
        "time_coverage_resolution": "P1Y", "geospatial_lat_min": "-90.0", "geospatial_lat_max": "90.0",
        "spatial_resolution": "300m", "geospatial_lat_units": "degrees_north", "geospatial_lat_resolution": "0.002778",
        "geospatial_lon_units": "degrees_east", "geospatial_lon_resolution": "0.002778",
        "id": f"{prefix}-{year}-v{release}", "project": "EC C3S Land Cover", "source": "Sentinel-3 OLCI",
        "geospatial_lon_min": "-180.0", "geospatial_lon_max": "180.0",
    }  # fmt: skip


def _layers(classes: np.ndarray, state: np.ndarray, observation_count: np.ndarray) -> list[tuple]:
    """(name, dtype, fill value, attributes, values [ny, nx]) of the map and its quality layers, in file order."""
    ny, nx = classes.shape
    # fmt: off
    return [
        ("lccs_class", "u1", None, {
            "standard_name": "land_cover_lccs", "flag_colors": FLAG_COLORS,
            "long_name": "Land cover class defined in LCCS",
            "valid_min": np.int32(1), "valid_max": np.int32(220),
            "ancillary_variables": "processed_flag current_pixel_state observation_count change_count",
            "flag_meanings": FLAG_MEANINGS, "flag_values": FLAG_VALUES,
        }, classes),
        ("processed_flag", "i1", np.int8(-1), {
            "long_name": "LC map processed area flag", "standard_name": "land_cover_lccs status_flag",
            "valid_min": np.int32(0), "valid_max": np.int32(1), "flag_meanings": "not_processed processed",
            "flag_values": np.array([0, 1], dtype=np.int8),
        }, np.ones((ny, nx), dtype=np.int8)),
        ("current_pixel_state", "i1", np.int8(-1), {
            "long_name": "LC pixel type mask", "standard_name": "land_cover_lccs status_flag",
            "valid_min": np.int32(0), "valid_max": np.int32(5),
            "flag_meanings": "invalid clear_land clear_water clear_snow_ice cloud cloud_shadow",
            "flag_values": np.array([0, 1, 2, 3, 4, 5], dtype=np.int8),
        }, state),
        ("observation_count", "u2", None, {
            "long_name": "number of valid observations", "standard_name": "land_cover_lccs number_of_observations",
            "valid_min": np.int32(0), "valid_max": np.int32(32767),
        }, observation_count),
        ("change_count", "u1", None, {
            "long_name": "number of class changes", "valid_min": np.int32(0), "valid_max": np.int32(100),
        }, np.zeros((ny, nx), dtype=np.uint8)),
    ]
    # fmt: on


def lccs_netcdf(
    path: str | Path,
    year: int,
    lat: np.ndarray,
    lon: np.ndarray,
    classes: np.ndarray,
    observation_count: np.ndarray,
    tracking_id: str,
    creation_date: str,
) -> None:
    """The year's LCCS NetCDF: ``classes`` uint8 [ny, nx] (LCCS codes) on pixel centres ``lat`` [ny] (descending)
    and ``lon`` [nx], degrees; ``observation_count`` uint16 [ny, nx]; ``tracking_id`` (a UUID) and
    ``creation_date`` (``YYYYMMDDTHHMMSSZ``) as the product's global attributes."""
    ny, nx = classes.shape
    half = 0.5 / PIXELS_PER_DEGREE
    start = (dt.date(year, 1, 1) - dt.date(1970, 1, 1)).days
    end = (dt.date(year + 1, 1, 1) - dt.date(1970, 1, 1)).days
    with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
        nc.setncatts(_global_attrs(year, tracking_id, creation_date))
        nc.createDimension("time", 1)
        nc.createDimension("lat", ny)
        nc.createDimension("lon", nx)
        nc.createDimension("bounds", 2)
        state = np.where(classes == CLASS_WATER, 2, np.where(classes == CLASS_SNOW_ICE, 3, 1)).astype(np.int8)
        for name, dtype, fill, attrs, values in _layers(classes, state, observation_count):
            cube = ("time", "lat", "lon")
            v = nc.createVariable(name, dtype, cube, fill_value=fill, chunksizes=(1, ny, nx), **COMPRESSION)
            v.setncatts(attrs)
            v[0] = values
        v = nc.createVariable("crs", "i4", ("lon",))
        v.setncatts({"wkt": WGS84_WKT, "i2m": "0.002777777777778,0.0,0.0,-0.002777777777778,-180.0,90.0"})
        v = nc.createVariable(
            "lat_bounds", "f8", ("lon", "lat", "bounds"), fill_value=np.nan, chunksizes=(nx, ny, 2), **COMPRESSION
        )
        v[:] = np.broadcast_to(np.stack([lat + half, lat - half], axis=-1)[None], (nx, ny, 2))
        v = nc.createVariable(
            "lon_bounds", "f8", ("lon", "bounds"), fill_value=np.nan, chunksizes=(nx, 2), **COMPRESSION
        )
        v[:] = np.stack([lon - half, lon + half], axis=-1)
        v = nc.createVariable("time_bounds", "f8", ("lon", "time", "bounds"), fill_value=np.nan)
        v[:] = np.broadcast_to(np.array([start, end], dtype=np.float64), (nx, 1, 2))
        # fmt: off
        for name, values, attrs in (
            ("lat", lat, {"units": "degrees_north", "long_name": "latitude", "standard_name": "latitude",
                          "valid_min": -90.0, "valid_max": 90.0, "bounds": "lat_bounds", "axis": "Y"}),
            ("lon", lon, {"units": "degrees_east", "long_name": "longitude", "standard_name": "longitude",
                          "valid_min": -180.0, "valid_max": 180.0, "bounds": "lon_bounds", "axis": "X"}),
        ):
            v = nc.createVariable(name, "f8", (name,), fill_value=np.nan, chunksizes=(len(values),), **COMPRESSION)
            v.setncatts({k: (np.float64(a) if isinstance(a, float) else a) for k, a in attrs.items()})
            v[:] = values
        v = nc.createVariable("time", "f8", ("time",), fill_value=np.nan)
        v.setncatts({"standard_name": "time", "long_name": "time", "axis": "T", "bounds": "time_bounds",
                     "units": "days since 1970-01-01", "calendar": "standard"})
        # fmt: on
        v[:] = [float(start)]


def lccs_zip(path: str | Path, year: int, area: list[float], tmpdir: str | Path, **netcdf) -> None:
    """The CDS zip of ``year`` for a request with ``area`` [N, W, S, E]: its one member (named as the CDS names
    it) is written with :func:`lccs_netcdf` (keyword arguments ``netcdf``) in ``tmpdir`` first."""
    member = Path(tmpdir) / member_name(year, area)
    lccs_netcdf(member, year, **netcdf)
    zip_files(path, [member])


def pft_netcdf(
    path: str | Path, year: int, lat: np.ndarray, lon: np.ndarray, percentages: Iterable[tuple[str, np.ndarray]]
) -> None:
    """The ESA CCI PFT product file of ``year``: pixel centres ``lat`` [ny] (descending) and ``lon`` [nx], degrees;
    ``percentages`` yields (PFT variable name, uint8 [ny, nx] percent) pairs, written one at a time (a caller may
    generate them lazily: a global-width file stays cheap to write)."""
    ny, nx = len(lat), len(lon)
    half = 0.5 / PIXELS_PER_DEGREE
    start = (dt.date(year, 1, 1) - dt.date(1970, 1, 1)).days
    tiles = (1, min(TILE, ny), min(TILE, nx))
    with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
        nc.setncatts(
            {
                "title": f"ESA CCI land cover PFT map of {year}",
                "product_version": PFT_VERSION.lstrip("v"),
                "Conventions": "CF-1.6",
                "TileSize": f"{TILE}:{TILE}",
                "spatial_resolution": "300m",
                "geospatial_lat_min": float(lat[-1] - half),
                "geospatial_lat_max": float(lat[0] + half),
                "geospatial_lon_min": float(lon[0] - half),
                "geospatial_lon_max": float(lon[-1] + half),
                "time_coverage_start": f"{year}0101",
                "time_coverage_end": f"{year}1231",
            }
        )
        nc.createDimension("time", 1)
        nc.createDimension("lat", ny)
        nc.createDimension("lon", nx)
        for name, values, attrs in (
            ("lat", lat, {"units": "degrees_north", "standard_name": "latitude", "axis": "Y"}),
            ("lon", lon, {"units": "degrees_east", "standard_name": "longitude", "axis": "X"}),
        ):
            v = nc.createVariable(name, "f8", (name,))
            v.setncatts(attrs)
            v[:] = values
        v = nc.createVariable("time", "f8", ("time",))
        v.setncatts({"standard_name": "time", "units": "days since 1970-01-01", "calendar": "standard"})
        v[:] = [float(start)]
        for name, values in percentages:
            v = nc.createVariable(name, "u1", ("time", "lat", "lon"), chunksizes=tiles, **COMPRESSION)
            v.setncatts({"long_name": f"percentage cover of {name}", "units": "percent", "valid_max": np.uint8(100)})
            v[0] = values
