"""Prepared zarr stores: created once with all metadata, then filled region by region.

A store is created from a lazy template (:func:`create`): coordinates, CF attributes, CRS (rioxarray
``spatial_ref``), chunking and codecs are written, data chunks are not. Workers then write chunk-aligned
regions straight into the zarr arrays (:class:`TimeChunkWriter` buffers in-order time slices and writes only
whole chunks, so no chunk is ever written twice or by two writers). A store filled in parts by independent
jobs (:mod:`.parts`) has each part write the chunks inside its time region and keep the slices of the chunks
it shares with a neighbour, which the finalising job writes (:func:`write_edges`). Stores are zarr format 3 with
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

    ``region`` ``(begin, end)``: the time steps this writer owns (default all of ``total``), as one part of a
    store filled by several independent jobs. A chunk that lies wholly inside the region is written to the
    store; the slices of a chunk that the region shares with another part (at most the first and the last)
    are kept in :attr:`edges` instead, as ``(name, start, array)``, for :func:`write_edges` once every part
    is done. No chunk is ever written by two jobs.
    """

    def __init__(self, group: zarr.Group, names: list[str], chunk: int, total: int, region: tuple[int, int] = None):
        self.group = group
        self.names = list(names)
        self.chunk = chunk
        self.total = total
        self.begin, self.end = region if region is not None else (0, total)
        if not 0 <= self.begin < self.end <= total:
            raise ValueError(f"region {region} is not inside 0..{total}")
        self.start = self.begin
        self.parts: dict[str, list[np.ndarray]] = {name: [] for name in self.names}
        self.length = 0
        self.edges: list[tuple[str, int, np.ndarray]] = []

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
        if self.start != self.end:
            raise ValueError(f"writer closed at {self.start} of time steps {self.begin}..{self.end}")

    def _flush(self, final: bool) -> None:
        while self.length and (self.length >= self._next_boundary() - self.start or final):
            size = min(self._next_boundary() - self.start, self.length)
            chunk_start = self.start // self.chunk * self.chunk
            owned = chunk_start >= self.begin and min(chunk_start + self.chunk, self.total) <= self.end
            for name in self.names:
                block = np.concatenate(self.parts[name]) if len(self.parts[name]) > 1 else self.parts[name][0]
                if owned:
                    self.group[name][self.start : self.start + size] = block[:size]
                else:
                    self.edges.append((name, self.start, block[:size].copy()))
                self.parts[name] = [block[size:]] if size < len(block) else []
            self.start += size
            self.length -= size

    def _next_boundary(self) -> int:
        return min((self.start // self.chunk + 1) * self.chunk, self.end)


def write_edges(group: zarr.Group, edges: list[tuple[str, int, np.ndarray]]) -> None:
    """Write the shared chunks from the :attr:`TimeChunkWriter.edges` of all parts of a store (any order).

    Slices are gathered per variable, sorted by start, and written as contiguous runs; the runs must tile the
    steps they cover without gap or overlap (else ValueError: a part is missing or was given twice).
    """
    by_name: dict[str, list[tuple[int, np.ndarray]]] = {}
    for name, start, array in edges:
        by_name.setdefault(name, []).append((start, array))
    for name, pieces in by_name.items():
        pieces.sort(key=lambda piece: piece[0])
        run_start, run = pieces[0][0], [pieces[0][1]]
        for start, array in pieces[1:]:
            end = run_start + sum(len(a) for a in run)
            if start < end:
                raise ValueError(f"{name}: slices overlap at time step {start}")
            if start > end:
                group[name][run_start:end] = np.concatenate(run)
                run_start, run = start, []
            run.append(array)
        group[name][run_start : run_start + sum(len(a) for a in run)] = np.concatenate(run)
