"""terraflux.train.reads: store-backed training reads equal numpy slicing, bounded cache, grouped order."""

import terraflux  # noqa: F401
from terraflux.errors import DataError
from terraflux.prepare import stores
from terraflux.train.reads import ChunkCache, SampleReader, StoreArray, chunk_grouped_order, load_or_cache

import numpy as np
import pytest
import zarr
from zarr.codecs import GzipCodec, ZstdCodec

SHAPE, CHUNKS = (13, 7, 9), (4, 4, 4)


def write(path, compressors=(stores.COMPRESSOR,), names=("a", "b"), skip_last=False, **kwargs):
    rng = np.random.default_rng(0)
    data = rng.standard_normal((len(names),) + SHAPE).astype(np.float32)
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    for name, values in zip(names, data, strict=True):
        array = group.create_array(
            name, shape=SHAPE, chunks=CHUNKS, dtype="float32", compressors=compressors, fill_value=np.nan, **kwargs
        )
        if skip_last:  # leave the last time chunk unwritten
            array[:12] = values[:12]
            values[12:] = np.nan
        else:
            array[:] = values
    return data


INDICES = [
    (slice(None), 3, 5),  # DERE: one cell, every time step
    (slice(2, 10), slice(1, 7), slice(3, 9)),  # IDE-like window across chunk edges in every dimension
    (slice(4, 8), slice(0, 4), slice(4, 8)),  # exactly one chunk
    (12,),  # last (partial) chunk, integer drops the dimension
    (-1, slice(5, 7)),
    (),
]


@pytest.mark.parametrize(
    "compressors", [(stores.COMPRESSOR,), (ZstdCodec(),), (GzipCodec(),), None], ids=["blosc", "zstd", "gzip", "none"]
)
def test_reads_equal_numpy_and_leave_the_cache_alone(tmp_path, compressors):
    data = write(tmp_path / "s.zarr", compressors)
    reader = SampleReader(tmp_path / "s.zarr", ["a", "b"], cache_bytes=10**7)
    assert reader._files is not None  # decoded from the chunk files, not through zarr
    for index in INDICES:
        got = reader.read(*index)
        np.testing.assert_array_equal(got, data[(slice(None),) + index])
        assert got.dtype == np.float32
        got[...] = 0  # a result is a copy: the cached chunks are unchanged
    for index in INDICES:
        np.testing.assert_array_equal(reader.read(*index), data[(slice(None),) + index])
    assert reader.cache.misses == 4 * 2 * 3  # every block decoded once, then served from the cache


def test_other_layouts_go_through_zarr_and_unwritten_chunks_read_fill(tmp_path):
    data = write(tmp_path / "sharded.zarr", shards=(8, 4, 4))  # sharding: not read from files directly
    reader = SampleReader(str(tmp_path / "sharded.zarr"), ["b", "a"], cache_bytes=10**7)
    assert reader._files is None
    np.testing.assert_array_equal(reader.read(slice(2, 13), 6), data[::-1, 2:13, 6])
    data = write(tmp_path / "gap.zarr", skip_last=True)
    reader = SampleReader(tmp_path / "gap.zarr", ["a", "b"])
    np.testing.assert_array_equal(reader.read(slice(10, 13)), data[:, 10:13])
    assert np.isnan(reader.read(12)).all()


def test_cache_is_bounded_and_least_recently_used(tmp_path):
    data = write(tmp_path / "s.zarr")
    block = 2 * 4 * 4 * 4 * 4
    reader = SampleReader(tmp_path / "s.zarr", ["a", "b"], cache_bytes=3 * block)
    assert reader.block_nbytes == block
    for _ in range(2):
        for t in range(0, 13, 4):  # 4 time chunks through a 3-block cache
            np.testing.assert_array_equal(reader.read(slice(t, t + 1), 0, 0), data[:, t : t + 1, 0, 0])
            assert reader.cache.nbytes <= 3 * block and len(reader.cache) <= 3
    assert reader.cache.hits == 0  # cyclic order through an LRU smaller than the cycle
    reader.read(12, 0, 0)
    assert reader.cache.hits == 1
    held = [id(block) for block in reader.cache._entries.values()]
    oldest = next(iter(reader.cache._entries))
    np.testing.assert_array_equal(reader.read(slice(0, 1), 5, 5), data[:, 0:1, 5, 5])  # a new chunk, full cache
    # decoded into the evicted block
    assert oldest not in reader.cache._entries and id(reader.cache._entries[(0, 1, 1)]) in held
    cache = ChunkCache(3 * block)
    for key in "abc":
        cache.put(key, np.zeros(block // 4, np.float32))
    first = cache._entries["a"]
    assert cache.make_room(block) is first and len(cache) == 2  # LRU entry evicted, its array handed back
    assert cache.make_room(block) is None and len(cache) == 2  # room left: nothing evicted
    assert cache.make_room(block // 2) is None and len(cache) == 2
    cache = ChunkCache(10)
    cache.put("big", np.zeros(3))  # 24 bytes > budget: not kept
    assert len(cache) == 0 and cache.get("big") is None
    with pytest.raises(ValueError):
        ChunkCache(-1)


def test_bad_requests_name_the_store(tmp_path):
    write(tmp_path / "s.zarr")
    group = zarr.open_group(str(tmp_path / "s.zarr"), mode="r+")
    group.create_array("other", shape=(13, 7), chunks=(4, 4), dtype="float32")
    with pytest.raises(DataError, match=r"s.zarr.*\['nope'\]"):
        SampleReader(tmp_path / "s.zarr", ["a", "nope"])
    with pytest.raises(DataError, match="'other' has shape"):
        SampleReader(tmp_path / "s.zarr", ["a", "other"])
    with pytest.raises(DataError, match="does not exist"):
        SampleReader(tmp_path / "missing.zarr", ["a"])
    reader = SampleReader(tmp_path / "s.zarr", ["a"])
    for bad in [(13,), (slice(0, 4, 2),), (slice(3, 3),), (0, 0, 0, 0)]:
        with pytest.raises(IndexError):
            reader.read(*bad)


def test_grouped_order_is_a_seeded_permutation_chunk_by_chunk():
    rng = np.random.default_rng(1)
    starts = np.stack([np.zeros(200, int), rng.integers(0, 64, 200), rng.integers(0, 64, 200)], 1)
    order = chunk_grouped_order(starts, (100, 16, 16), np.random.default_rng(5), mix=1)
    assert sorted(order) == list(range(200))
    np.testing.assert_array_equal(order, chunk_grouped_order(starts, (100, 16, 16), np.random.default_rng(5), mix=1))
    groups = [tuple(s) for s in starts[order] // (100, 16, 16)]
    runs = [g for i, g in enumerate(groups) if i == 0 or g != groups[i - 1]]
    assert len(runs) == len(set(groups))  # mix=1: each chunk's samples are consecutive
    mixed = chunk_grouped_order(starts, (100, 16, 16), np.random.default_rng(5), mix=4)
    assert sorted(mixed) == list(range(200)) and not np.array_equal(mixed, order)
    with pytest.raises(ValueError):
        chunk_grouped_order(starts[:, :2], (100, 16, 16), rng)


def test_store_array_indexes_like_numpy_through_a_bounded_cache(tmp_path):
    data = write(tmp_path / "s.zarr", names=("a",))[0]
    array = StoreArray(tmp_path / "s.zarr", "a", cache_bytes=5 * 4**3 * 4)
    assert array.shape == data.shape and array.dtype == np.float32 and array.ndim == 3 and len(array) == 13
    assert array.nbytes == data.nbytes
    weeks = np.array([12, 0, 5, 5])
    for index in [
        (slice(2, 10), slice(1, 7), slice(3, 9)),
        (slice(None), 3),
        (..., slice(None, None, -1)),
        (slice(11, 1, -3), Ellipsis, 4),
        (-1,),
        (weeks,),
        (slice(None), weeks[:2] % 7, slice(2, 3)),
        (np.arange(13) % 3 == 0, -2),
        (5, slice(None), weeks % 9),  # int and array apart: numpy puts the array's dimension first
        (slice(4, 4),),
    ]:
        expected = data[index]
        got = array[index]
        assert got.shape == expected.shape, index
        np.testing.assert_array_equal(got, expected)
        assert array.reader.cache.nbytes <= array.reader.cache.max_bytes
    np.testing.assert_array_equal(np.asarray(array), data)
    np.testing.assert_array_equal(array[2:6, 1:5][:, :, ::-1], data[2:6, 1:5][:, :, ::-1])
    for bad in [(13,), (0, 0, 0, 0), (..., ...), (np.array([0, 13]),), (np.ones(3, bool),), (np.array([[0]]),)]:
        with pytest.raises(IndexError):
            array[bad]


def test_load_or_cache_chooses_by_size_and_names_damaged_chunks(tmp_path):
    data = write(tmp_path / "s.zarr", names=("a",))[0]
    whole = load_or_cache(tmp_path / "s.zarr", "a", data.nbytes)
    assert isinstance(whole, np.ndarray)
    np.testing.assert_array_equal(whole, data)
    cached = load_or_cache(tmp_path / "s.zarr", "a", data.nbytes - 1)
    assert isinstance(cached, StoreArray) and cached.reader.cache.max_bytes == data.nbytes - 1
    assert load_or_cache(tmp_path / "s.zarr", "a", 0).reader.cache.max_bytes == 4 * 4**3 * 4  # at least 4 chunks
    with pytest.raises(DataError, match=r"s.zarr: array 'nope'"):
        load_or_cache(tmp_path / "s.zarr", "nope", 0)
    chunk = tmp_path / "s.zarr" / "a" / "c" / "0" / "0" / "0"
    chunk.write_bytes(b"not a blosc frame")
    with pytest.raises(DataError, match=r"s.zarr/a/c/0/0/0: chunk cannot be decoded"):
        cached[0:2, 0, 0]
