"""The grids each source delivers for the config's region.

- ERA5-Land: regular 0.1 deg, latitude descending, points on multiples of 0.1 deg, the ``area``
  [N, W, S, E] inclusive (21 x 31 points for 46-48 N, 8-11 E).
- ESA-CCI land cover: 1/360 deg pixels, latitude descending; the CDS area subset holds the pixels
  whose centres lie inside the box. The world's fine map covers the ERA5-Land cells completely
  (36 x 36 pixels per cell), the file holds its subset inside the box.
- NOAA VHP: the global 4 km grid (:mod:`terraflux.sources.vhp`); the synthetic files hold the pixels
  whose centres lie inside the box.
- CERRA: the Lambert conformal grid (:mod:`terraflux.sources.cerra`); the synthetic files hold the smallest
  index rectangle that covers the box.
"""

from __future__ import annotations

from dataclasses import dataclass

from terraflux.sources import cerra, era5_land, land_cover, vhp

import numpy as np
import pyproj

ERA5_STEP = era5_land.STEP
#: Land-cover pixels per side of an ERA5-Land cell (36).
LC_PER_ERA_CELL = round(ERA5_STEP * land_cover.PIXELS_PER_DEGREE)


@dataclass(frozen=True)
class Region:
    """The study box, degrees (config ``region``)."""

    north: float
    west: float
    south: float
    east: float

    @classmethod
    def from_config(cls, region: dict) -> Region:
        return cls(float(region["north"]), float(region["west"]), float(region["south"]), float(region["east"]))

    @property
    def mid_lat(self) -> float:
        return 0.5 * (self.north + self.south)


@dataclass(frozen=True)
class LatLonGrid:
    """A regular grid: ``lat`` [ny] descending, ``lon`` [nx] ascending (cell centres, degrees)."""

    lat: np.ndarray
    lon: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return (self.lat.size, self.lon.size)

    def mesh(self) -> tuple[np.ndarray, np.ndarray]:
        """2-D (lat, lon) arrays of shape [ny, nx]."""
        return np.meshgrid(self.lat, self.lon, indexing="ij")


def _snap(value: float, step: float) -> float:
    return round(round(value / step) * step, 6)


def era5_land_grid(region: Region) -> LatLonGrid:
    """The ERA5-Land points of the CDS ``area`` request (inclusive, snapped to 0.1 deg)."""
    north, south = _snap(region.north, ERA5_STEP), _snap(region.south, ERA5_STEP)
    west, east = _snap(region.west, ERA5_STEP), _snap(region.east, ERA5_STEP)
    ny = int(round((north - south) / ERA5_STEP)) + 1
    nx = int(round((east - west) / ERA5_STEP)) + 1
    lat = np.round(north - ERA5_STEP * np.arange(ny), 6)
    lon = np.round(west + ERA5_STEP * np.arange(nx), 6)
    return LatLonGrid(lat=lat, lon=lon)


def land_cover_fine_grid(era: LatLonGrid) -> LatLonGrid:
    """1/360 deg pixels covering every ERA5-Land cell completely (36 x 36 pixels per cell)."""
    step = 1.0 / land_cover.PIXELS_PER_DEGREE
    top = era.lat[0] + ERA5_STEP / 2
    left = era.lon[0] - ERA5_STEP / 2
    ny, nx = era.shape[0] * LC_PER_ERA_CELL, era.shape[1] * LC_PER_ERA_CELL
    return LatLonGrid(lat=top - step * (np.arange(ny) + 0.5), lon=left + step * (np.arange(nx) + 0.5))


def land_cover_subset(fine: LatLonGrid, region: Region) -> tuple[slice, slice]:
    """Index slices (rows, columns) of the fine grid whose pixel centres lie inside the region box."""
    rows = np.flatnonzero((fine.lat > region.south) & (fine.lat < region.north))
    cols = np.flatnonzero((fine.lon > region.west) & (fine.lon < region.east))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def vhp_grid(region: Region) -> tuple[LatLonGrid, int, int]:
    """VHP pixels inside the box: (grid, first row, first column) in the global 3616 x 10000 grid."""
    rows = np.arange(vhp.HEIGHT)
    cols = np.arange(vhp.WIDTH)
    lat = vhp.LAT_TOP - vhp.STEP * (rows + 0.5)
    lon = vhp.LON_LEFT + vhp.STEP * (cols + 0.5)
    r = rows[(lat > region.south) & (lat < region.north)]
    c = cols[(lon > region.west) & (lon < region.east)]
    return LatLonGrid(lat=lat[r], lon=lon[c]), int(r[0]), int(c[0])


@dataclass(frozen=True)
class CerraGrid:
    """A rectangle of the CERRA grid: indices i0..i0+nx-1 (x), j0..j0+ny-1 (y, south to north)."""

    i0: int
    j0: int
    nx: int
    ny: int

    @property
    def x(self) -> np.ndarray:
        return (np.arange(self.i0, self.i0 + self.nx) - cerra.CENTRE) * cerra.SPACING

    @property
    def y(self) -> np.ndarray:
        return (np.arange(self.j0, self.j0 + self.ny) - cerra.CENTRE) * cerra.SPACING

    def latlon(self) -> tuple[np.ndarray, np.ndarray]:
        """2-D latitude, longitude [ny, nx] of the points (row 0 = southernmost, GRIB scanning +i +j)."""
        xx, yy = np.meshgrid(self.x, self.y)
        to_geo = pyproj.Transformer.from_crs(pyproj.CRS.from_proj4(cerra.PROJ4), "EPSG:4326", always_xy=True)
        lon, lat = to_geo.transform(xx, yy)
        return lat, lon


def cerra_grid(region: Region) -> CerraGrid:
    """The smallest CERRA index rectangle whose points cover the region box (one point margin)."""
    to_lcc = pyproj.Transformer.from_crs("EPSG:4326", pyproj.CRS.from_proj4(cerra.PROJ4), always_xy=True)
    edge = np.linspace(0.0, 1.0, 50)
    lons = np.concatenate(
        [
            region.west + (region.east - region.west) * edge,
            np.full(50, region.east),
            region.west + (region.east - region.west) * edge,
            np.full(50, region.west),
        ]
    )
    lats = np.concatenate(
        [
            np.full(50, region.south),
            region.south + (region.north - region.south) * edge,
            np.full(50, region.north),
            region.south + (region.north - region.south) * edge,
        ]
    )
    x, y = to_lcc.transform(lons, lats)
    centre, dx, last = cerra.CENTRE, cerra.SPACING, cerra.SIZE - 1
    i = np.clip([int(np.floor(x.min() / dx)) + centre - 1, int(np.ceil(x.max() / dx)) + centre + 1], 0, last)
    j = np.clip([int(np.floor(y.min() / dx)) + centre - 1, int(np.ceil(y.max() / dx)) + centre + 1], 0, last)
    return CerraGrid(i0=int(i[0]), j0=int(j[0]), nx=int(i[1] - i[0] + 1), ny=int(j[1] - j[0] + 1))
