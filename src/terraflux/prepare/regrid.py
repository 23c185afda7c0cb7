"""Reproject a weekly statistics store (layout of :mod:`.weekly`, dims ``(time, y, x)``) to another grid.

Used by ``prepare_cerra`` when ``prepare.cerra.reproject_crs`` is set: the store is first built on the
native grid, then every ``{v}_mean`` / ``{v}_std`` is reprojected 8 weeks (one time chunk) at a time with
rioxarray (``rio.reproject``, GDAL warp; NaN is nodata, points outside the source grid are NaN), and the
climatologies are recomputed from the reprojected ``{v}_mean``. Linear resampling (bilinear, average)
commutes with the weekly mean, so ``{v}_mean`` is the weekly mean of the reprojected field; ``{v}_std`` is
the resampled standard deviation (an approximation away from grid points). ``land_mask`` uses nearest.

The target grid: CRS (anything pyproj reads: ``EPSG:4326``, ``EPSG:3035``, a WKT or PROJ string) and pixel
size in the target CRS's units (degrees or metres); resolution 0 lets GDAL choose one close to the native
spacing. The output has 1-D ``x``/``y`` in the target CRS (degrees or metres), 2-D ``latitude`` /
``longitude`` (so consumers of the native store work unchanged) and the target CRS in ``spatial_ref``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from terraflux.errors import ConfigError
from terraflux.prepare import stores, weekly

import numpy as np
import pyproj
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
import zarr
from rasterio.enums import Resampling

RESAMPLING = ("bilinear", "nearest", "average", "cubic")


@dataclass(frozen=True)
class Target:
    """Target grid: ``crs`` (pyproj-readable), ``resolution`` (target CRS units per pixel, 0 = automatic)."""

    crs: str
    resolution: float
    resampling: str

    @classmethod
    def from_config(cls, cerra: Mapping) -> Target | None:
        """The target of config ``prepare.cerra`` (None when ``reproject_crs`` is ``none``); bad keys -> ConfigError."""
        crs = str(cerra["reproject_crs"]).strip()
        if crs.lower() in ("", "none"):
            return None
        try:
            pyproj.CRS.from_user_input(crs)
        except pyproj.exceptions.CRSError as error:
            raise ConfigError(
                f"config `prepare.cerra.reproject_crs` {crs!r} is not a CRS pyproj knows ({error}); "
                "use e.g. 'EPSG:4326' or 'none'"
            ) from error
        resolution = float(cerra["reproject_resolution"])
        if resolution < 0:
            raise ConfigError(
                f"config `prepare.cerra.reproject_resolution` must be >= 0 (0 = automatic), got {resolution}"
            )
        resampling = str(cerra["resampling"])
        if resampling not in RESAMPLING:
            raise ConfigError(f"config `prepare.cerra.resampling` {resampling!r} is not one of {list(RESAMPLING)}")
        return cls(crs, resolution, resampling)


def _prepare(da: xr.DataArray, crs) -> xr.DataArray:
    da = da.rio.set_spatial_dims(x_dim="x", y_dim="y").rio.write_crs(crs)
    return da.rio.write_nodata(np.nan, encoded=False)


def reproject_weekly(
    src: str | Path,
    dst: str | Path,
    target: Target,
    names: list[str],
    *,
    train: list[int],
    start_year: int,
    end_year: int,
    attrs: Mapping | None = None,
) -> None:
    """Write ``dst`` (an empty path) as ``src`` reprojected to ``target`` (see the module docstring)."""
    ds = xr.open_zarr(src, consolidated=False)
    source_crs = pyproj.CRS.from_wkt(ds["spatial_ref"].attrs["crs_wkt"])
    dst_crs = pyproj.CRS.from_user_input(target.crs)
    resolution = target.resolution or None
    mask = _prepare(ds["land_mask"].astype(np.float32), source_crs).rio.reproject(
        dst_crs, resolution=resolution, resampling=Resampling.nearest, nodata=np.nan
    )
    shape, transform = mask.shape, mask.rio.transform()
    x, y = mask["x"].values, mask["y"].values
    xx, yy = np.meshgrid(x, y)
    lon, lat = pyproj.Transformer.from_crs(dst_crs, "EPSG:4326", always_xy=True).transform(xx, yy)
    geographic = dst_crs.is_geographic
    units = ("degrees_east", "degrees_north") if geographic else ("m", "m")
    space = {
        "y": (("y",), y, {"units": units[1], "standard_name": "latitude" if geographic else "projection_y_coordinate"}),
        "x": (
            ("x",),
            x,
            {"units": units[0], "standard_name": "longitude" if geographic else "projection_x_coordinate"},
        ),
        "latitude": (("y", "x"), lat, {"units": "degrees_north", "standard_name": "latitude"}),
        "longitude": (("y", "x"), lon, {"units": "degrees_east", "standard_name": "longitude"}),
    }
    var_attrs = {}
    for n in names:
        keep = {k: v for k, v in ds[f"{n}_mean"].attrs.items() if k in ("long_name", "units")}
        var_attrs[n] = keep
    group = stores.create(
        dst,
        {**weekly.coords(start_year, end_year), **space},
        {
            **weekly.variables(var_attrs, ("y", "x")),
            "land_mask": stores.variable(("y", "x"), dict(ds["land_mask"].attrs), bool),
        },
        weekly.CHUNKS,
        {
            **{k: v for k, v in ds.attrs.items() if k not in ("provenance",)},
            **dict(attrs or {}),
            "reprojection": {
                "source_crs": source_crs.to_wkt(),
                "crs": dst_crs.to_wkt(),
                "resolution": target.resolution,
                "resampling": target.resampling,
            },
        },
        crs=dst_crs.to_wkt(),
        spatial_dims=("x", "y"),
    )
    group["land_mask"][:] = np.nan_to_num(mask.values, nan=0.0) > 0.5
    step = weekly.CHUNKS["time"]
    method = Resampling[target.resampling]
    for n in names:
        for stat in ("mean", "std"):
            source = ds[f"{n}_{stat}"]
            for start in range(0, ds.sizes["time"], step):
                block = _prepare(source.isel(time=slice(start, start + step)).load(), source_crs)
                out = block.rio.reproject(dst_crs, shape=shape, transform=transform, resampling=method, nodata=np.nan)
                group[f"{n}_{stat}"][start : start + step] = out.transpose("time", "y", "x").values.astype(np.float32)
    ds.close()
    weekly.write_climatology(zarr.open_group(str(dst), mode="r+"), names, train, start_year, end_year)
