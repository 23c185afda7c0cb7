"""WindowData bounded in memory: a dataset.zarr larger than ide.train.memory_gb is read through a cache of
decoded chunks (terraflux.prepare.samples.StoreArray) with the same windows and training batches."""

import numpy as np
import pytest
import zarr

import terraflux  # noqa: F401
import terraflux.ide.data as ide_data
from terraflux.errors import DataError
from terraflux.ide.benchmark import BenchmarkConfig, write_benchmark
from terraflux.ide.data import WindowData, benchmark_source, training_batches, write_dataset
from terraflux.prepare.samples import StoreArray

WEEKS = 4


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A benchmark dataset of 6 variables x 104 weeks x 12 x 12, inputs chunked CHUNK_WEEKS weeks x 5 x 5 pixels."""
    root = tmp_path_factory.mktemp("ide")
    write_benchmark(BenchmarkConfig(height=12, width=12, weeks=104, events_per_year=20.0, seed=3), root / "b.zarr")
    patch = pytest.MonkeyPatch()
    patch.setattr(ide_data, "TILE", 5)  # several spatial chunks on a tiny grid
    try:
        write_dataset(benchmark_source(root / "b.zarr"), root / "ds.zarr", 10.0, {})
    finally:
        patch.undo()
    assert zarr.open_group(str(root / "ds.zarr"), mode="r")["inputs"].chunks == (6, 1, ide_data.CHUNK_WEEKS, 5, 5)
    return root / "ds.zarr"


def small_budget(path, chunks: int) -> float:
    """A memory_gb that leaves room for the masks and ``chunks`` decoded chunks of inputs."""
    group = zarr.open_group(str(path), mode="r")
    masks = sum(group[n].nbytes for n in ("extreme", "extreme_loose", "valid"))
    return (masks + chunks * 6 * ide_data.CHUNK_WEEKS * 5 * 5 * 4) / 2**30


def test_reader_backed_windows_and_batches_equal_in_memory(dataset):
    memory = WindowData(dataset, WEEKS, memory_gb=1.0)
    store = WindowData(dataset, WEEKS, memory_gb=small_budget(dataset, 6))
    assert isinstance(memory.inputs, np.ndarray) and isinstance(store.inputs, StoreArray)
    assert store.shape == memory.shape == (6, 1, 104, 12, 12)
    rng = np.random.default_rng(0)
    for t in store.targets("train")[::7]:
        y, x = rng.integers(0, 8, 2)
        a, b = memory.window(int(t), slice(y, y + 4), slice(x, x + 4)), store.window(int(t), slice(y, y + 4), slice(x, x + 4))
        assert a.keys() == b.keys()
        for key in a:
            assert a[key].dtype == b[key].dtype
            np.testing.assert_array_equal(a[key], b[key])  # bit-identical
    settings = dict(batch_size=3, steps=4, crop=6, seed=7, epoch=1, positive_fraction=0.5)
    for a, b in zip(training_batches(memory, **settings), training_batches(store, **settings), strict=True):
        for key in a:
            assert a[key].dtype == b[key].dtype and bool((a[key] == b[key]).all())
    cache = store.inputs.reader.cache
    assert cache.max_bytes == 6 * store.inputs.reader.block_nbytes  # the budget left after the masks
    assert 0 < cache.nbytes <= cache.max_bytes and cache.misses > len(cache)  # bounded: chunks were evicted


def test_the_budget_chooses_memory_or_cache(dataset):
    assert isinstance(WindowData(dataset, WEEKS, memory_gb=small_budget(dataset, 8)).inputs, StoreArray)
    assert isinstance(WindowData(dataset, WEEKS).inputs, np.ndarray)  # the default (ide.train.memory_gb's) holds it


def test_bad_stores_are_clear_errors_naming_the_path(tmp_path, dataset):
    (tmp_path / "junk.zarr").mkdir()
    (tmp_path / "junk.zarr" / "zarr.json").write_text("{not json")
    with pytest.raises(DataError, match=r"junk.zarr cannot be read as a zarr group"):
        WindowData(tmp_path / "junk.zarr", WEEKS)
    zarr.open_group(str(tmp_path / "empty.zarr"), mode="w", zarr_format=3)
    with pytest.raises(DataError, match=r"empty.zarr: array 'inputs' is missing"):
        WindowData(tmp_path / "empty.zarr", WEEKS)
    with pytest.raises(DataError, match=r"missing.zarr does not exist"):
        WindowData(tmp_path / "missing.zarr", WEEKS)
    import shutil

    shutil.copytree(dataset, tmp_path / "damaged.zarr")
    k = str(11 // ide_data.CHUNK_WEEKS)  # the time chunk holding week 11, the target week read below
    (tmp_path / "damaged.zarr" / "inputs" / "c" / "0" / "0" / k / "0" / "0").write_bytes(b"\0" * 40)
    data = WindowData(tmp_path / "damaged.zarr", WEEKS, memory_gb=small_budget(dataset, 4))
    with pytest.raises(DataError, match=rf"damaged.zarr/inputs/c/0/0/{k}/0/0: chunk cannot be decoded"):
        data.window(11)
