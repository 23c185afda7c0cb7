"""Prepared zarr stores: created once with all metadata, then filled region by region.

A store is created from a lazy template (:func:`create`): coordinates, CF attributes, CRS (rioxarray
``spatial_ref``), chunking and codecs are written, data chunks are not. Workers then write chunk-aligned
regions straight into the zarr arrays (:class:`TimeChunkWriter` buffers in-order time slices and writes only
whole chunks, so no chunk is ever written twice or by two writers). Stores are zarr format 3 with
consolidated metadata, float32 data compressed with Blosc-zstd and byte shuffle.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

from terraflux.outputs import jsonable

import dask.array as da
import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
import zarr
from zarr.codecs import BloscCodec

COMPRESSOR = BloscCodec(cname="zstd", clevel=3, shuffle="shuffle")


def variable(dims: tuple[str, ...], attrs: Mapping | None = None, dtype=np.float32) -> dict:
    """Declaration of one data variable of a store: dims, dtype and CF attributes."""
    return {"dims": tuple(dims), "attrs": dict(attrs or {}), "dtype": np.dtype(dtype)}


def create(
    path: str | Path,
    coords: Mapping[str, tuple],
    variables: Mapping[str, dict],
    chunks: Mapping[str, int],
    attrs: Mapping | None = None,
    crs: str | None = "EPSG:4326",
    spatial_dims: tuple[str, str] = ("longitude", "latitude"),
) -> zarr.Group:
    """Write the metadata of an empty store (data chunks read as NaN until written); return its zarr group.

    ``coords``: name -> (dims, values, attrs); ``variables``: name -> :func:`variable`; ``chunks``: dim -> size
    (dims not listed are one chunk).
    """
    ds = xr.Dataset(coords={name: xr.Variable(dims, values, attrs) for name, (dims, values, attrs) in coords.items()})
    encoding = {}
    for name, spec in variables.items():
        shape = tuple(ds.sizes[d] for d in spec["dims"])
        chunk = tuple(min(chunks.get(d, n), n) or 1 for d, n in zip(spec["dims"], shape, strict=True))
        ds[name] = xr.Variable(spec["dims"], da.zeros(shape, chunks=chunk, dtype=spec["dtype"]), spec["attrs"])
        fill = np.nan if spec["dtype"].kind == "f" else None
        encoding[name] = {"chunks": chunk, "compressors": (COMPRESSOR,), "_FillValue": fill}
    if crs is not None:
        ds = ds.rio.set_spatial_dims(x_dim=spatial_dims[0], y_dim=spatial_dims[1]).rio.write_crs(crs)
        for name in variables:
            if set(spatial_dims) <= set(ds[name].dims):
                ds[name].attrs["grid_mapping"] = "spatial_ref"
    ds.attrs.update(jsonable(dict(attrs or {})))
    ds.to_zarr(path, mode="w", compute=False, zarr_format=3, consolidated=False, encoding=encoding)
    return zarr.open_group(str(path), mode="r+")


def finish(path: str | Path, attrs: Mapping | None = None) -> None:
    """Add attributes and consolidate the metadata (call last, before the atomic rename)."""
    group = zarr.open_group(str(path), mode="r+")
    if "spatial_ref" in group and "coordinates" not in group.attrs:
        group.attrs["coordinates"] = "spatial_ref"  # so that xarray opens it as a coordinate (rioxarray CRS)
    if attrs:
        group.attrs.update(jsonable(dict(attrs)))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        zarr.consolidate_metadata(str(path))


class TimeChunkWriter:
    """Write arrays along a leading time axis in order, one whole chunk at a time.

    ``push(start, {name: array[nt, ...]})`` appends slices starting at time index ``start`` (must follow the
    previous push); whenever the buffer covers a whole chunk of the store it is written and dropped, so memory
    is bounded by one chunk plus one push.
    """

    def __init__(self, group: zarr.Group, names: list[str], chunk: int, total: int):
        self.group = group
        self.names = list(names)
        self.chunk = chunk
        self.total = total
        self.start = 0
        self.parts: dict[str, list[np.ndarray]] = {name: [] for name in self.names}
        self.length = 0

    def push(self, start: int, arrays: Mapping[str, np.ndarray]) -> None:
        if start != self.start + self.length:
            raise ValueError(f"out-of-order push at {start}, expected {self.start + self.length}")
        lengths = {len(arrays[name]) for name in self.names}
        if len(lengths) != 1:
            raise ValueError("arrays of one push differ in length")
        for name in self.names:
            self.parts[name].append(np.asarray(arrays[name]))
        self.length += lengths.pop()
        self._flush(final=False)

    def close(self) -> None:
        self._flush(final=True)
        if self.start != self.total:
            raise ValueError(f"writer closed at {self.start} of {self.total} time steps")

    def _flush(self, final: bool) -> None:
        while self.length and (self.length >= self._next_boundary() - self.start or final):
            size = min(self._next_boundary() - self.start, self.length)
            for name in self.names:
                block = np.concatenate(self.parts[name]) if len(self.parts[name]) > 1 else self.parts[name][0]
                self.group[name][self.start : self.start + size] = block[:size]
                self.parts[name] = [block[size:]] if size < len(block) else []
            self.start += size
            self.length -= size

    def _next_boundary(self) -> int:
        return min((self.start // self.chunk + 1) * self.chunk, self.total)
