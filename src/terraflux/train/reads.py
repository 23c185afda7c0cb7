"""Random-access training reads from zarr stores through a bounded cache of decoded chunks.

A training sample is small (one DERE cell over every month of ten drivers; one IDE window of T weeks x a
crop), and every zarr-python 3 read call has a fixed cost whatever its size, so reading samples one call each
from a store is far slower than slicing the same data held in numpy. :class:`SampleReader` reads whole chunks
instead, decodes each once and keeps them in a least-recently-used cache bounded in bytes; a sample is then
sliced out of the cached chunks with numpy. The prepared stores are chunked for these two access patterns
(``terraflux.prepare.era5_land.CHUNKS``: every month x 16 x 16 cells for DERE; 8 weeks x 64 x 64 pixels for
the weekly stores), so a sample touches one chunk per array (at most 2 x 2 x 2 for an unaligned window).

The arrays read together (e.g. every driver of the monthly store) must share shape and chunking; the cache
holds one block per chunk index with every array stacked, ``[n_arrays, *chunk_shape]``, so a sample costs
one cache look-up per chunk it touches, not one per array.

Chunks of local zarr-3 stores with the prepare layer's codecs (bytes + Blosc, Zstd or Gzip, no sharding) are
read from their files and decoded with numcodecs directly; any other store or codec chain goes through
``zarr`` (one call per chunk, still cached).

    reader = SampleReader("era5_land_monthly.zarr", ["t2m", "tp", ...], cache_bytes=512 * 2**20)
    x = reader.read(slice(None), 40, 17)   # [n_arrays, time] float32: one cell, every month
    w = reader.read(slice(t, t + 8), slice(y, y + 64), slice(x, x + 64))   # [n_arrays, 8, 64, 64]

:class:`StoreArray` puts numpy indexing over one array's reader, and :func:`load_or_cache` returns an array whole
in numpy when it fits a memory budget, else as a ``StoreArray``: how :class:`terraflux.ide.windows.WindowData`
stays bounded in memory (config ``ide.train.memory_gb``). :func:`chunk_grouped_order` orders an epoch so that a
small cache decodes each chunk about once. :func:`open_group` opens a store, or says which stage to rerun.
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

from terraflux.errors import DataError

import numpy as np
import zarr
from numcodecs import blosc, gzip, zstd
from zarr.codecs import BloscCodec, BytesCodec, GzipCodec, ZstdCodec
from zarr.storage import LocalStore

# decode(encoded bytes, out) -> the decoded buffer, written into ``out`` (a contiguous array) where possible
_DECODERS = {BloscCodec: blosc.decompress, ZstdCodec: zstd.Zstd().decode, GzipCodec: gzip.GZip().decode}


class ChunkCache:
    """Least-recently-used map key -> numpy array, bounded by the arrays' total ``nbytes``.

    An entry larger than the whole budget is returned to the caller but not kept.
    """

    def __init__(self, max_bytes: int):
        if max_bytes < 0:
            raise ValueError(f"cache size must be >= 0 bytes, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self.nbytes = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict = OrderedDict()

    def get(self, key):
        value = self._entries.get(key)
        if value is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key, value: np.ndarray) -> None:
        if value.nbytes > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.nbytes -= old.nbytes
        self.make_room(value.nbytes)
        self._entries[key] = value
        self.nbytes += value.nbytes

    def make_room(self, nbytes: int) -> np.ndarray | None:
        """Evict least-recently-used entries until an entry of ``nbytes`` fits; return an evicted array of
        exactly ``nbytes`` (for the caller to fill and ``put`` back, so a full cache decodes into the memory it
        already holds instead of faulting in fresh pages), or None."""
        reuse = None
        while self._entries and self.nbytes + nbytes > self.max_bytes and nbytes <= self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.nbytes -= evicted.nbytes
            if reuse is None and evicted.nbytes == nbytes:
                reuse = evicted
        return reuse

    def __len__(self) -> int:
        return len(self._entries)


class _ChunkFiles:
    """Read and decode one chunk of a local zarr-3 array from its file (None if the layout is not supported)."""

    def __init__(self, array: zarr.Array):
        meta = array.metadata
        store = array.store
        codecs = list(getattr(meta, "codecs", ()))
        self.ok = (
            getattr(meta, "zarr_format", None) == 3
            and isinstance(store, LocalStore)
            and bool(codecs)
            and isinstance(codecs[0], BytesCodec)
            and len(codecs) <= 2
            and all(type(c) in _DECODERS for c in codecs[1:])
        )
        if not self.ok:
            return
        endian = codecs[0].endian
        order = "<" if endian is None or endian.value == "little" else ">"
        self.dtype = np.dtype(meta.data_type.to_native_dtype()).newbyteorder(order)
        self.decode = _DECODERS[type(codecs[1])] if len(codecs) == 2 else None
        self.meta = meta
        self.root = Path(store.root) / array.path
        self.chunk_shape = tuple(meta.chunk_grid.chunk_shape)
        self.fill = meta.fill_value
        self._raw = np.empty(0, np.uint8)  # encoded bytes, reused between chunks (one reader, one thread)

    def _read_file(self, path: Path) -> memoryview:
        """The file's bytes, in a buffer reused between chunks (no fresh bytes object per chunk)."""
        with open(path, "rb", buffering=0) as f:
            size = os.fstat(f.fileno()).st_size
            if self._raw.nbytes < size:
                self._raw = np.empty(size + size // 4, np.uint8)
            view, n = memoryview(self._raw)[:size], 0
            while n < size:
                got = f.readinto(view[n:])
                if not got:
                    break
                n += got
        return view[:n]

    def read(self, index: tuple[int, ...], out: np.ndarray) -> None:
        """Decode chunk ``index`` into ``out`` (shape = the chunk shape); fill value where never written."""
        path = self.root / self.meta.encode_chunk_key(index)
        try:
            raw = self._read_file(path)
        except FileNotFoundError:
            out[...] = self.fill
            return
        try:
            if self.decode is None:  # no compressor
                out[...] = np.frombuffer(raw, dtype=self.dtype).reshape(self.chunk_shape)
            elif self.dtype.isnative and out.flags.c_contiguous:  # straight into the cache block
                decoded = self.decode(raw, out)
                if np.asarray(decoded).nbytes != out.nbytes:
                    raise ValueError(f"{np.asarray(decoded).nbytes} bytes decoded, {out.nbytes} expected")
            else:
                out[...] = np.frombuffer(self.decode(raw, None), dtype=self.dtype).reshape(self.chunk_shape)
        except Exception as error:
            raise DataError(
                f"{path}: chunk cannot be decoded ({error}); the store is damaged: rerun the stage that writes it"
            ) from error


class SampleReader:
    """Random-access reads of the same region of several equally shaped and chunked zarr arrays.

    ``source``: a zarr group or the path of a store; ``names``: the arrays to read, in output order;
    ``cache_bytes``: the most decoded data kept (the whole store when it fits gives in-memory speed after
    one pass; less bounds memory, at the cost of decoding evicted chunks again). Reads return float data
    as stored (no dtype change): ``[len(names), *region]``, integer indices dropping their dimension.
    ``hits``/``misses`` count chunk-block look-ups.
    """

    def __init__(self, source, names: Sequence[str], cache_bytes: int = 512 * 2**20):
        group = source if isinstance(source, zarr.Group) else open_group(source)
        if not names:
            raise ValueError("SampleReader needs at least one array name")
        missing = [n for n in names if n not in group]
        if missing:
            raise DataError(
                f"{_where(group)}: arrays {missing} are not in the store (it has {sorted(group.array_keys())})"
            )
        self.names = list(names)
        self.arrays = [group[n] for n in self.names]
        first = self.arrays[0]
        for name, array in zip(self.names, self.arrays, strict=True):
            if array.shape != first.shape or array.chunks != first.chunks or array.dtype != first.dtype:
                raise DataError(
                    f"{_where(group)}: '{name}' has shape {array.shape}, chunks {array.chunks}, dtype {array.dtype}; "
                    f"'{self.names[0]}' has {first.shape}, {first.chunks}, {first.dtype}: "
                    "read them with separate readers"
                )
        self.shape = tuple(first.shape)
        self.chunks = tuple(first.chunks)
        self.dtype = first.dtype
        self.cache = ChunkCache(cache_bytes)
        files = [_ChunkFiles(a) for a in self.arrays]
        self._files = files if all(f.ok for f in files) else None

    @property
    def block_nbytes(self) -> int:
        """Bytes of one cached block (one chunk of every array)."""
        return len(self.arrays) * int(np.prod(self.chunks)) * self.dtype.itemsize

    def read(self, *index) -> np.ndarray:
        """The region ``index`` (ints and step-1 slices, one per leading dimension) of every array.

        Returns a new array ``[len(names), *region]`` (ints drop their dimension), never a view of the cache.
        """
        bounds, drop = self._bounds(index)
        ranges = [range(lo // c, (hi - 1) // c + 1) for (lo, hi), c in zip(bounds, self.chunks, strict=True)]
        if all(len(r) == 1 for r in ranges):  # one chunk: slice it (the common case with aligned chunking)
            key = tuple(r[0] for r in ranges)
            local = tuple(
                lo - k * c if d in drop else slice(lo - k * c, hi - k * c)
                for d, ((lo, hi), k, c) in enumerate(zip(bounds, key, self.chunks, strict=True))
            )
            return self._block(key)[(slice(None),) + local].copy()
        out = np.empty((len(self.arrays),) + tuple(hi - lo for lo, hi in bounds), self.dtype)
        pieces = [  # per dimension: (chunk index, slice in the chunk, slice in out) of each chunk it crosses
            [
                (
                    k,
                    slice(max(lo, k * c) - k * c, min(hi, (k + 1) * c) - k * c),
                    slice(max(lo, k * c) - lo, min(hi, (k + 1) * c) - lo),
                )
                for k in r
            ]
            for (lo, hi), c, r in zip(bounds, self.chunks, ranges, strict=True)
        ]
        everything = (slice(None),)
        for parts in itertools.product(*pieces):
            key, src, dst = zip(*parts, strict=True)
            out[everything + dst] = self._block(key)[everything + src]
        return out[(slice(None),) + tuple(0 if d in drop else slice(None) for d in range(len(bounds)))]

    def _bounds(self, index) -> tuple[list[tuple[int, int]], set[int]]:
        if len(index) > len(self.shape):
            raise IndexError(f"{len(index)} indices for {len(self.shape)} dimensions")
        bounds, drop = [], set()
        for d, n in enumerate(self.shape):
            item = index[d] if d < len(index) else slice(None)
            if isinstance(item, slice):
                lo, hi, step = item.indices(n)
                if step != 1:
                    raise IndexError("SampleReader reads step-1 slices only")
                if hi <= lo:
                    raise IndexError(f"empty slice {item} in dimension {d}")
            else:
                lo = int(item) + (n if int(item) < 0 else 0)
                if not 0 <= lo < n:
                    raise IndexError(f"index {item} out of range for dimension {d} of size {n}")
                hi = lo + 1
                drop.add(d)
            bounds.append((lo, hi))
        return bounds, drop

    def _block(self, key: tuple[int, ...]) -> np.ndarray:
        block = self.cache.get(key)
        if block is not None:
            return block
        shape = (len(self.arrays),) + self.chunks
        block = self.cache.make_room(self.block_nbytes)  # an evicted block's memory, when the cache is full
        if block is None or block.shape != shape or block.dtype != self.dtype:
            block = np.empty(shape, self.dtype)
        if self._files is not None:
            for files, out in zip(self._files, block, strict=True):
                files.read(key, out)
        else:  # any other store or codec chain: one zarr call per chunk (edge chunks are partial)
            region = tuple(
                slice(k * c, min((k + 1) * c, n)) for k, c, n in zip(key, self.chunks, self.shape, strict=True)
            )
            inner = tuple(slice(0, r.stop - r.start) for r in region)
            for array, out in zip(self.arrays, block, strict=True):
                try:
                    out[inner] = array[region]
                except Exception as error:
                    raise DataError(
                        f"{_where(array)}: chunk {key} cannot be read ({error}); rerun the stage that writes it"
                    ) from error
        self.cache.put(key, block)
        return block


class StoreArray:
    """One zarr array seen as a read-only numpy array, read through a :class:`SampleReader` cache.

    Supports ``.shape``/``.dtype``/``.ndim``/``.nbytes`` and numpy indexing with ints, slices of any step,
    ``...`` and 1-D integer or boolean index arrays; the result is a new numpy array equal to the same
    indexing of the whole array loaded in memory. The chunks of the request's bounding box are read through
    the cache, so memory stays bounded by ``cache_bytes`` plus that box.
    """

    def __init__(self, source, name: str, cache_bytes: int):
        self.reader = SampleReader(source, [name], cache_bytes=cache_bytes)
        self.name = name
        self.shape = self.reader.shape
        self.dtype = self.reader.dtype
        self.ndim = len(self.shape)
        self.nbytes = int(np.prod(self.shape)) * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        out = self[...]
        return out if dtype is None else out.astype(dtype)

    def __getitem__(self, index) -> np.ndarray:
        index = index if isinstance(index, tuple) else (index,)
        at = [i for i, item in enumerate(index) if item is Ellipsis]
        if len(at) > 1:
            raise IndexError("an index can only have a single ellipsis ('...')")
        if at:
            index = index[: at[0]] + (slice(None),) * (self.ndim - len(index) + 1) + index[at[0] + 1 :]
        if len(index) > self.ndim:
            raise IndexError(f"too many indices for {self.name}: {len(index)} for {self.ndim} dimensions")
        index = index + (slice(None),) * (self.ndim - len(index))
        region, rest = [], []  # step-1 bounding box read through the cache, then numpy indexing inside it
        for d, (item, n) in enumerate(zip(index, self.shape, strict=True)):
            if isinstance(item, slice):
                r = range(*item.indices(n))
                lo, hi = (min(r[0], r[-1]), max(r[0], r[-1]) + 1) if len(r) else (0, 0)
                rest.append(slice(None, None, r.step))  # a negative step starts at the box's end
            elif isinstance(item, (int, np.integer)):
                lo = int(item) + (n if int(item) < 0 else 0)
                if not 0 <= lo < n:
                    raise IndexError(f"index {item} is out of bounds for axis {d} of {self.name} with size {n}")
                hi = lo + 1
                rest.append(0)
            else:
                item = np.asarray(item)
                if item.dtype == bool:
                    if item.shape != (n,):
                        raise IndexError(
                            f"boolean index of shape {item.shape} for axis {d} of {self.name} with size {n}"
                        )
                    item = np.flatnonzero(item)
                if item.ndim != 1 or not np.issubdtype(item.dtype, np.integer):
                    raise IndexError(f"{self.name} takes ints, slices, '...' and 1-D integer or boolean arrays")
                item = np.where(item < 0, item + n, item)
                if len(item) and (item.min() < 0 or item.max() >= n):
                    raise IndexError(f"index array out of bounds for axis {d} of {self.name} with size {n}")
                lo, hi = (int(item.min()), int(item.max()) + 1) if len(item) else (0, 0)
                rest.append(item - lo)
            region.append(slice(lo, hi))
        if any(s.stop == s.start for s in region):
            return np.empty(tuple(s.stop - s.start for s in region), self.dtype)[tuple(rest)]
        return self.reader.read(*region)[0][tuple(rest)]


def load_or_cache(source, name: str, max_bytes: int) -> np.ndarray | StoreArray:
    """Array ``name`` of a zarr group (or store path) whole in numpy if it fits ``max_bytes``, else a
    :class:`StoreArray` over it with a cache of ``max_bytes`` (at least 4 chunks)."""
    group = source if isinstance(source, zarr.Group) else open_group(source)
    if name not in group:
        raise DataError(f"{_where(group)}: array '{name}' is not in the store; rerun the stage that writes it")
    array = group[name]
    if array.nbytes <= max_bytes:
        return np.asarray(array[...])
    chunk = int(np.prod(array.chunks)) * array.dtype.itemsize
    return StoreArray(group, name, cache_bytes=max(int(max_bytes), 4 * chunk))


def chunk_grouped_order(
    starts: np.ndarray, chunks: Sequence[int], rng: np.random.Generator, mix: int = 4
) -> np.ndarray:
    """A random epoch order that visits samples chunk by chunk, so a small cache decodes each chunk about once.

    ``starts``: ``[n_samples, n_dims]`` first index of each sample (e.g. (0, iy, ix) for DERE cells, (t, y, x)
    for IDE windows); samples are grouped by the chunk holding their start, groups taken in random order,
    and the samples of each run of ``mix`` consecutive groups shuffled together. A cache of about ``mix``
    blocks (``2**n_dims * mix`` for windows that cross chunk edges) then serves an epoch with one decode per
    chunk, where a uniformly random order over a store larger than the cache decodes a chunk per sample.
    Returns a permutation of ``range(n_samples)``; a pure function of ``rng``'s state.
    """
    starts = np.asarray(starts, dtype=np.int64)
    if starts.ndim != 2 or starts.shape[1] != len(chunks):
        raise ValueError(f"starts must be [n_samples, {len(chunks)}], got {starts.shape}")
    if mix < 1:
        raise ValueError(f"mix must be >= 1, got {mix}")
    _, group = np.unique(starts // np.asarray(chunks, dtype=np.int64), axis=0, return_inverse=True)
    group = group.ravel()
    rank = rng.permutation(group.max() + 1 if len(group) else 0)[group] // mix  # run of `mix` groups
    return np.lexsort((rng.random(len(group)), rank))


def open_group(path) -> zarr.Group:
    """The zarr group at ``path`` (read only); a missing or unreadable store is a DataError naming it."""
    if not Path(path).exists():
        raise DataError(f"{path} does not exist: run the stage that writes it first")
    # Snakemake leaves a timestamp file in directory outputs; zarr warns about the stranger.
    warnings.filterwarnings("ignore", message="Object at .snakemake_timestamp")
    try:
        return zarr.open_group(str(path), mode="r")
    except Exception as error:
        raise DataError(f"{path} cannot be read as a zarr group ({error}); rerun the stage that writes it") from error


def _where(group: zarr.Group) -> str:
    root = getattr(group.store, "root", None)
    return str(Path(root) / group.path) if root is not None else str(group.store)
