"""ESA-CCI / C3S land-cover zips as the CDS ``satellite-land-cover`` dataset returns them.

A zip holding one NetCDF4 file ``C3S-LC-L4-LCCS-Map-300m-P1Y-{year}-v2.1.1.area-subset.{N}.{W}.{S}.{E}.nc``
(years before 2016: ``ESACCI-LC-L4-LCCS-Map-300m-P1Y-{year}-v2.0.7cds...``) with the variables, dtypes,
attributes and (odd) dimension layout of the real area-subset sample: ``lccs_class`` uint8 with
``flag_values`` / ``flag_meanings``, ``processed_flag``, ``current_pixel_state``, ``observation_count``,
``change_count``, ``crs``, ``lat_bounds``, ``lon_bounds``, ``time_bounds``; 1/360 deg, latitude descending.
The class map is the world's (:func:`terraflux.synthetic.land.fine_classes`), cut to the pixels whose
centres lie inside the region.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zipfile
from pathlib import Path

import netCDF4
import numpy as np

from terraflux.synthetic.fields import stage_seed
from terraflux.synthetic.grids import land_cover_subset
from terraflux.synthetic.land import CLASS_WATER, fine_classes

FLAG_VALUES = np.array([0, 10, 11, 12, 20, 30, 40, 50, 60, 61, 62, 70, 71, 72, 80, 81, 82, 90, 100, 110, 120, 121, 122,
                        130, 140, 150, 151, 152, 153, 160, 170, 180, 190, 200, 201, 202, 210, 220], dtype=np.uint8)
FLAG_MEANINGS = (
    "no_data cropland_rainfed cropland_rainfed_herbaceous_cover cropland_rainfed_tree_or_shrub_cover cropland_irrigated "
    "mosaic_cropland mosaic_natural_vegetation tree_broadleaved_evergreen_closed_to_open tree_broadleaved_deciduous_closed_to_open "
    "tree_broadleaved_deciduous_closed tree_broadleaved_deciduous_open tree_needleleaved_evergreen_closed_to_open "
    "tree_needleleaved_evergreen_closed tree_needleleaved_evergreen_open tree_needleleaved_deciduous_closed_to_open "
    "tree_needleleaved_deciduous_closed tree_needleleaved_deciduous_open tree_mixed mosaic_tree_and_shrub mosaic_herbaceous "
    "shrubland shrubland_evergreen shrubland_deciduous grassland lichens_and_mosses sparse_vegetation sparse_tree sparse_shrub "
    "sparse_herbaceous tree_cover_flooded_fresh_or_brakish_water tree_cover_flooded_saline_water "
    "shrub_or_herbaceous_cover_flooded urban bare_areas bare_areas_consolidated bare_areas_unconsolidated water snow_and_ice"
)
FLAG_COLORS = (
    "#ffff64 #ffff64 #ffff00 #aaf0f0 #dcf064 #c8c864 #006400 #00a000 #00a000 #aac800 #003c00 #003c00 #005000 #285000 "
    "#285000 #286400 #788200 #8ca000 #be9600 #966400 #966400 #966400 #ffb432 #ffdcd2 #ffebaf #ffc864 #ffd278 #ffebaf "
    "#00785a #009678 #00dc82 #c31400 #fff5d7 #dcdcdc #fff5d7 #0046c8 #ffffff"
)
WGS84_WKT = (
    'GEOGCS["WGS 84", \n  DATUM["World Geodetic System 1984", \n    SPHEROID["WGS 84", 6378137.0, 298.257223563, '
    'AUTHORITY["EPSG","7030"]], \n    AUTHORITY["EPSG","6326"]], \n  PRIMEM["Greenwich", 0.0, AUTHORITY["EPSG","8901"]], \n'
    '  UNIT["degree", 0.017453292519943295], \n  AXIS["Geodetic longitude", EAST], \n  AXIS["Geodetic latitude", NORTH], \n'
    '  AUTHORITY["EPSG","4326"]]'
)
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
COMP = dict(zlib=True, complevel=5, shuffle=True)


def _fmt(value: float) -> str:
    return f"{value:g}"


def product(year: int) -> tuple[str, str, str]:
    """(file prefix, version, type) of the CDS land-cover product of ``year``."""
    if year >= 2016:
        return "C3S-LC-L4-LCCS-Map-300m-P1Y", "2.1.1", "C3S-LC-L4-LCCS-Map-300m-P1Y"
    return "ESACCI-LC-L4-LCCS-Map-300m-P1Y", "2.0.7cds", "ESACCI-LC-L4-LCCS-Map-300m-P1Y"


def member_name(year: int, region) -> str:
    prefix, version, _ = product(year)
    area = ".".join(_fmt(v) for v in (region.north, region.west, region.south, region.east))
    return f"{prefix}-{year}-v{version}.area-subset.{area}.nc"


def write_netcdf(path: str | Path, world, year: int) -> None:
    """The year's land-cover NetCDF over the region (see the module docstring)."""
    region = world.spec.region
    rows, cols = land_cover_subset(world.fine_grid, region)
    classes = fine_classes(world, year)[rows, cols]
    lat = world.fine_grid.lat[rows]
    lon = world.fine_grid.lon[cols]
    ny, nx = classes.shape
    half = 0.5 / 360.0
    prefix, version, kind = product(year)
    rng = np.random.default_rng(stage_seed(world.spec.seed, "land_cover", year))
    start = (dt.date(year, 1, 1) - dt.date(1970, 1, 1)).days
    end = (dt.date(year + 1, 1, 1) - dt.date(1970, 1, 1)).days
    with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
        nc.setncatts({
            "title": f"Land Cover Map of {year}",
            "summary": "This dataset characterizes the land cover of a particular year (see time_coverage). The land cover was derived from the analysis of satellite data time series of the full period.",
            "type": kind, "references": "https://cds.climate.copernicus.eu/", "institution": "UCLouvain",
            "contact": "copernicus-support@ecmwf.int", "comment": "", "Conventions": "CF-1.6",
            "standard_name_vocabulary": "NetCDF Climate and Forecast (CF) Standard Names version 21",
            "keywords": "land cover classification,satellite,observation",
            "keywords_vocabulary": "NASA Global Change Master Directory (GCMD) Science Keywords",
            "license": "EC C3S Land cover Data Policy", "naming_authority": "", "cdm_data_type": "grid", "TileSize": "2025:2025",
            "tracking_id": str(uuid.UUID(int=stage_seed(world.spec.seed, "land_cover", "tracking", year) << 64 | year)),
            "product_version": version, "creation_date": f"{year + 1}0518T101540Z", "creator_name": "UCLouvain",
            "creator_url": "http://www.uclouvain.be/", "creator_email": "landcover-cci@uclouvain.be",
            "history": "lc-sr-1.0, lc-classification-1.0,lc-user-tools-3.14,lc-user-tools-4.5",
            "time_coverage_start": f"{year}0101", "time_coverage_end": f"{year}1231", "time_coverage_duration": "P1Y",
            "time_coverage_resolution": "P1Y", "geospatial_lat_min": "-90.0", "geospatial_lat_max": "90.0",
            "spatial_resolution": "300m", "geospatial_lat_units": "degrees_north", "geospatial_lat_resolution": "0.002778",
            "geospatial_lon_units": "degrees_east", "geospatial_lon_resolution": "0.002778",
            "id": f"{prefix}-{year}-v{version}", "project": "EC C3S Land Cover", "source": "Sentinel-3 OLCI",
            "geospatial_lon_min": "-180.0", "geospatial_lon_max": "180.0",
        })
        nc.createDimension("time", 1)
        nc.createDimension("lat", ny)
        nc.createDimension("lon", nx)
        nc.createDimension("bounds", 2)
        v = nc.createVariable("lccs_class", "u1", ("time", "lat", "lon"), chunksizes=(1, ny, nx), **COMP)
        v.setncatts({
            "standard_name": "land_cover_lccs", "flag_colors": FLAG_COLORS, "long_name": "Land cover class defined in LCCS",
            "valid_min": np.int32(1), "valid_max": np.int32(220),
            "ancillary_variables": "processed_flag current_pixel_state observation_count change_count",
            "flag_meanings": FLAG_MEANINGS, "flag_values": FLAG_VALUES,
        })
        v[0] = classes
        v = nc.createVariable("processed_flag", "i1", ("time", "lat", "lon"), fill_value=np.int8(-1), chunksizes=(1, ny, nx), **COMP)
        v.setncatts({"long_name": "LC map processed area flag", "standard_name": "land_cover_lccs status_flag",
                     "valid_min": np.int32(0), "valid_max": np.int32(1), "flag_meanings": "not_processed processed",
                     "flag_values": np.array([0, 1], dtype=np.int8)})
        v[0] = np.ones((ny, nx), dtype=np.int8)
        v = nc.createVariable("current_pixel_state", "i1", ("time", "lat", "lon"), fill_value=np.int8(-1), chunksizes=(1, ny, nx), **COMP)
        v.setncatts({"long_name": "LC pixel type mask", "standard_name": "land_cover_lccs status_flag",
                     "valid_min": np.int32(0), "valid_max": np.int32(5),
                     "flag_meanings": "invalid clear_land clear_water clear_snow_ice cloud cloud_shadow",
                     "flag_values": np.array([0, 1, 2, 3, 4, 5], dtype=np.int8)})
        v[0] = np.where(classes == CLASS_WATER, 2, np.where(classes == 220, 3, 1)).astype(np.int8)
        v = nc.createVariable("observation_count", "u2", ("time", "lat", "lon"), chunksizes=(1, ny, nx), **COMP)
        v.setncatts({"long_name": "number of valid observations", "standard_name": "land_cover_lccs number_of_observations",
                     "valid_min": np.int32(0), "valid_max": np.int32(32767)})
        v[0] = rng.integers(2, 40, size=(ny, nx), dtype=np.uint16)
        v = nc.createVariable("change_count", "u1", ("time", "lat", "lon"), chunksizes=(1, ny, nx), **COMP)
        v.setncatts({"long_name": "number of class changes", "valid_min": np.int32(0), "valid_max": np.int32(100)})
        v[0] = np.zeros((ny, nx), dtype=np.uint8)
        v = nc.createVariable("crs", "i4", ("lon",))
        v.setncatts({"wkt": WGS84_WKT, "i2m": "0.002777777777778,0.0,0.0,-0.002777777777778,-180.0,90.0"})
        v = nc.createVariable("lat_bounds", "f8", ("lon", "lat", "bounds"), fill_value=np.nan, chunksizes=(nx, ny, 2), **COMP)
        v[:] = np.broadcast_to(np.stack([lat + half, lat - half], axis=-1)[None], (nx, ny, 2))
        v = nc.createVariable("lon_bounds", "f8", ("lon", "bounds"), fill_value=np.nan, chunksizes=(nx, 2), **COMP)
        v[:] = np.stack([lon - half, lon + half], axis=-1)
        v = nc.createVariable("time_bounds", "f8", ("lon", "time", "bounds"), fill_value=np.nan)
        v[:] = np.broadcast_to(np.array([start, end], dtype=np.float64), (nx, 1, 2))
        for name, values, attrs in (
            ("lat", lat, {"units": "degrees_north", "long_name": "latitude", "standard_name": "latitude", "valid_min": -90.0,
                          "valid_max": 90.0, "bounds": "lat_bounds", "axis": "Y"}),
            ("lon", lon, {"units": "degrees_east", "long_name": "longitude", "standard_name": "longitude", "valid_min": -180.0,
                          "valid_max": 180.0, "bounds": "lon_bounds", "axis": "X"}),
        ):
            v = nc.createVariable(name, "f8", (name,), fill_value=np.nan, chunksizes=(len(values),), **COMP)
            v.setncatts({k: (np.float64(a) if isinstance(a, float) else a) for k, a in attrs.items()})
            v[:] = values
        v = nc.createVariable("time", "f8", ("time",), fill_value=np.nan)
        v.setncatts({"standard_name": "time", "long_name": "time", "axis": "T", "bounds": "time_bounds",
                     "units": "days since 1970-01-01", "calendar": "standard"})
        v[:] = [float(start)]


def write_zip(path: str | Path, world, year: int, tmpdir: Path) -> None:
    """The CDS zip of the year (one NetCDF inside; fixed zip timestamps: reproducible)."""
    member = Path(tmpdir) / member_name(year, world.spec.region)
    write_netcdf(member, world, year)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        info = zipfile.ZipInfo(member.name, date_time=ZIP_DATE)
        info.external_attr = 0o644 << 16
        zf.writestr(info, member.read_bytes())
    member.unlink()
