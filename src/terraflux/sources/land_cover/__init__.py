"""ESA CCI / C3S land cover: LCCS class maps from the CDS and the ESA CCI PFT product over HTTPS.

Facts from the ESA CCI Land Cover Product User Guide v2.0 (UCLouvain, 2017), the C3S ICDR Land Cover
Product User Guide, the CDS dataset page (https://cds.climate.copernicus.eu/datasets/satellite-land-cover)
and the Land_Cover_cci PFT dataset v2.0.8 (CEDA archive, https://catalogue.ceda.ac.uk):

- yearly LCCS maps 1992-2022 at 1/360 degree (300 m), latitude descending; the CDS holds the CDR version
  ``v2.0.7cds`` for 1992-2015 and the ICDR version ``v2.1.1`` from 2016; a request is always answered with a
  zip holding one NetCDF, ``ESACCI-LC-L4-LCCS-Map-300m-P1Y-{year}-v2.0.7cds...`` or
  ``C3S-LC-L4-LCCS-Map-300m-P1Y-{year}-v2.1.1...``, with ``.area-subset.{N}.{W}.{S}.{E}`` before ``.nc``
  for a request with an ``area``;
- ``lccs_class`` uint8 with the ``flag_values`` / ``flag_meanings`` below (some older files store it as a
  signed byte with ``_Unsigned = "true"``);
- the PFT product (1992-2020): ``ESACCI-LC-L4-PFT-Map-300m-P1Y-{year}-v2.0.8.nc`` with 14 uint8 percentage
  variables (:data:`PFT_VARIABLES`).

Modules: :mod:`.read` (the LCCS zip and the PFT file), :mod:`.write` (the LCCS zip from arrays).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from terraflux.errors import ConfigError
from terraflux.sources.formats import cds

import numpy as np

DATASET = "satellite-land-cover"
#: Pixels per degree (300 m maps).
PIXELS_PER_DEGREE = 360

#: Years with a map, per product (config ``sources.land_cover.product``).
YEARS = {"lccs": (1992, 2022), "pft": (1992, 2020)}
#: First year of the ICDR (version v2.1.1) on the CDS; earlier years are the CDR v2.0.7cds.
ICDR_FROM = 2016
PFT_VERSION = "v2.0.8"

#: Raw files (relative to the raw folder), one per year, per product.
PATHS = {
    "lccs": "land_cover/land-cover_LCCS_MAP_300m_{year}.zip",
    "pft": "land_cover/ESACCI-LC-L4-PFT-Map-300m-P1Y-{year}-" + PFT_VERSION + ".nc",
}

FLAG_VALUES = np.array(
    [
        0,
        10,
        11,
        12,
        20,
        30,
        40,
        50,
        60,
        61,
        62,
        70,
        71,
        72,
        80,
        81,
        82,
        90,
        100,
        110,
        120,
        121,
        122,
        130,
        140,
        150,
        151,
        152,
        153,
        160,
        170,
        180,
        190,
        200,
        201,
        202,
        210,
        220,
    ],
    dtype=np.uint8,
)
FLAG_MEANINGS = (
    "no_data cropland_rainfed cropland_rainfed_herbaceous_cover cropland_rainfed_tree_or_shrub_cover "
    "cropland_irrigated mosaic_cropland mosaic_natural_vegetation tree_broadleaved_evergreen_closed_to_open "
    "tree_broadleaved_deciduous_closed_to_open tree_broadleaved_deciduous_closed tree_broadleaved_deciduous_open "
    "tree_needleleaved_evergreen_closed_to_open tree_needleleaved_evergreen_closed tree_needleleaved_evergreen_open "
    "tree_needleleaved_deciduous_closed_to_open tree_needleleaved_deciduous_closed tree_needleleaved_deciduous_open "
    "tree_mixed mosaic_tree_and_shrub mosaic_herbaceous shrubland shrubland_evergreen shrubland_deciduous grassland "
    "lichens_and_mosses sparse_vegetation sparse_tree sparse_shrub sparse_herbaceous "
    "tree_cover_flooded_fresh_or_brakish_water tree_cover_flooded_saline_water shrub_or_herbaceous_cover_flooded urban "
    "bare_areas bare_areas_consolidated bare_areas_unconsolidated water snow_and_ice"
)
FLAG_COLORS = (
    "#ffff64 #ffff64 #ffff00 #aaf0f0 #dcf064 #c8c864 #006400 #00a000 #00a000 #aac800 #003c00 #003c00 #005000 #285000 "
    "#285000 #286400 #788200 #8ca000 #be9600 #966400 #966400 #966400 #ffb432 #ffdcd2 #ffebaf #ffc864 #ffd278 #ffebaf "
    "#00785a #009678 #00dc82 #c31400 #fff5d7 #dcdcdc #fff5d7 #0046c8 #ffffff"
)
CLASS_WATER = 210
CLASS_SNOW_ICE = 220

PFT_VARIABLES = (
    "TREES-BE",
    "TREES-BD",
    "TREES-NE",
    "TREES-ND",
    "SHRUBS-BE",
    "SHRUBS-BD",
    "SHRUBS-NE",
    "SHRUBS-ND",
    "GRASS-NAT",
    "GRASS-MAN",
    "BUILT",
    "BARE",
    "WATER",
    "SNOWICE",
)


def map_year(year: int, product: str) -> int:
    """The land-cover map used for ``year``: the year itself, or the nearest year with a map.

    Land cover changes slowly, so a period that starts before 1992 (or runs past the last map) uses the first
    (or last) map for the years outside the product's range; ``pft.zarr`` records the mapping.
    """
    first, last = YEARS[product]
    return min(max(int(year), first), last)


def version(year: int) -> str:
    """The ``satellite-land-cover`` request version that holds ``year``."""
    first = YEARS["lccs"][0]
    if year < first:
        raise ConfigError(f"ESA CCI / C3S land cover starts in {first}, not {year}: raise config 'period.start_year'")
    return "v2_0_7cds" if year < ICDR_FROM else "v2_1_1"


def product(year: int) -> tuple[str, str]:
    """(file-name prefix, version as in the file name) of the LCCS map of ``year``."""
    if year >= ICDR_FROM:
        return "C3S-LC-L4-LCCS-Map-300m-P1Y", "2.1.1"
    return "ESACCI-LC-L4-LCCS-Map-300m-P1Y", "2.0.7cds"


def member_name(year: int, area: list[float]) -> str:
    """The NetCDF inside the CDS zip of ``year`` for a request with ``area`` [N, W, S, E] (degrees)."""
    prefix, release = product(year)
    subset = ".".join(f"{value:g}" for value in area)
    return f"{prefix}-{year}-v{release}.area-subset.{subset}.nc"


def raw_path(product_name: str, year: int) -> str:
    """The raw file of one year of the ``'lccs'`` or ``'pft'`` product (relative to the raw folder)."""
    return PATHS[product_name].format(year=f"{year:04d}")


def request(region: Mapping[str, Any], year: int) -> dict:
    """The yearly LCCS map over the region, ``{dataset, request}`` (delivered as a zip holding one NetCDF)."""
    return {
        "dataset": DATASET,
        "request": {"variable": "all", "year": [f"{year:04d}"], "version": [version(year)], "area": cds.area(region)},
    }


def pft_url(base_url: str, year: int) -> str:
    """The ESA CCI PFT product file of a year (global NetCDF) under ``base_url``."""
    return f"{base_url.rstrip('/')}/{raw_path('pft', year).rsplit('/', 1)[1]}"
