"""Windows of an IDE dataset: newest first, masks and flips alike; WindowData bounded in memory (a dataset.zarr
larger than ide.train.memory_gb is read through a cache of decoded chunks, terraflux.train.reads.StoreArray, with
the same windows); its training batches hold the same windows as in memory in a chunk-grouped order that decodes
each chunk about once per epoch."""

import itertools
from dataclasses import replace

import terraflux  # noqa: F401
import terraflux.ide.dataset as ide_dataset
from terraflux.errors import DataError
from terraflux.ide.benchmark import write_benchmark
from terraflux.ide.dataset import benchmark_source, write_dataset
from terraflux.ide.windows import (
    WindowData,
    WindowSampling,
    block_shape,
    flipped,
    plan_batches,
    stack_windows,
    training_batches,
    training_plan,
)
from terraflux.train.reads import StoreArray

import numpy as np
import pytest
import zarr

from support.ide_config import IDE, benchmark_config

WEEKS = 4
MEMORY_GB = IDE["train"]["memory_gb"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A benchmark dataset of 6 variables x 104 weeks x 12 x 12, inputs chunked CHUNK_WEEKS weeks x 5 x 5 pixels."""
    root = tmp_path_factory.mktemp("ide")
    write_benchmark(benchmark_config(height=12, width=12, weeks=104, events_per_year=20.0, seed=3), root / "b.zarr")
    patch = pytest.MonkeyPatch()
    patch.setattr(ide_dataset, "TILE", 5)  # several spatial chunks on a tiny grid
    try:
        write_dataset(benchmark_source(root / "b.zarr"), root / "ds.zarr", 10.0, {})
    finally:
        patch.undo()
    assert zarr.open_group(str(root / "ds.zarr"), mode="r")["inputs"].chunks == (6, 1, ide_dataset.CHUNK_WEEKS, 5, 5)
    return root / "ds.zarr"


def test_windows_newest_first_and_flipped_alike(tmp_path):
    cfg = benchmark_config(height=12, width=12, weeks=208, events_per_year=20.0, seed=2)
    write_benchmark(cfg, tmp_path / "b.zarr")
    write_dataset(benchmark_source(tmp_path / "b.zarr"), tmp_path / "ds.zarr", 10.0, {})
    data = WindowData(tmp_path / "ds.zarr", WEEKS, MEMORY_GB)
    t = int(data.target_weeks("train")[5])
    w = data.window(t)
    assert np.abs(data.inputs[:, :, t]).max() > 0.1
    np.testing.assert_array_equal(w["x"][:, :, 0], data.inputs[:, :, t])
    np.testing.assert_array_equal(w["x"][:, :, 3], data.inputs[:, :, t - 3])
    np.testing.assert_array_equal(w["normal"], ~(data.extreme | data.extreme_loose)[t - 3 : t + 1].any(axis=0))
    assert (data.extreme_loose & ~data.extreme).any()  # the rings around extremes
    assert data.target_weeks("train")[0] == 3  # a window needs T weeks
    uniform = WindowSampling(batch_size=2, steps=3, crop=8, positive_fraction=0.0)
    first = list(training_batches(data, uniform, seed=1, epoch=0))
    again = list(training_batches(data, uniform, seed=1, epoch=0))
    other = list(training_batches(data, uniform, seed=1, epoch=1))
    assert all((a["x"] == b["x"]).all() for a, b in zip(first, again, strict=True))
    assert not all((a["x"] == b["x"]).all() for a, b in zip(first, other, strict=True))
    assert first[0]["x"].shape == (2, 6, 1, 4, 8, 8) and first[0]["target"].shape == (2, 8, 8)
    around_extremes = WindowSampling(batch_size=4, steps=3, crop=6, positive_fraction=1.0)
    positive = list(training_batches(data, around_extremes, seed=1, epoch=0))
    assert all(batch["target"].flatten(1).any(dim=1).all() for batch in positive)  # every crop holds an extreme
    # past context: the weeks before the window follow it (newest first), zeros before the store's first week
    w = data.window(t, context=2)
    np.testing.assert_array_equal(w["x"][:, :, :4], data.window(t)["x"])
    np.testing.assert_array_equal(w["x"][:, :, 5], data.inputs[:, :, t - 5])
    early = data.window(3, context=2)["x"]
    assert early.shape[2] == 6 and not early[:, :, 4:].any()
    with_context = WindowSampling(batch_size=2, steps=1, crop=8, positive_fraction=0.0, context=2)
    assert next(training_batches(data, with_context, seed=1, epoch=0))["x"].shape == (2, 6, 1, 6, 8, 8)


def small_budget(path, chunks: int) -> float:
    """A memory_gb that leaves room for the masks and ``chunks`` decoded chunks of inputs."""
    group = zarr.open_group(str(path), mode="r")
    masks = sum(group[n].nbytes for n in ("extreme", "extreme_loose", "valid"))
    return (masks + chunks * 6 * ide_dataset.CHUNK_WEEKS * 5 * 5 * 4) / 2**30


def test_reader_backed_windows_and_batches_equal_in_memory(dataset):
    memory = WindowData(dataset, WEEKS, memory_gb=1.0)
    store = WindowData(dataset, WEEKS, memory_gb=small_budget(dataset, 6))
    assert isinstance(memory.inputs, np.ndarray) and isinstance(store.inputs, StoreArray)
    assert store.shape == memory.shape == (6, 1, 104, 12, 12)
    rng = np.random.default_rng(0)
    for t in store.target_weeks("train")[::7]:
        y, x = rng.integers(0, 8, 2)
        a, b = (
            memory.window(int(t), slice(y, y + 4), slice(x, x + 4)),
            store.window(int(t), slice(y, y + 4), slice(x, x + 4)),
        )
        assert a.keys() == b.keys()
        for key in a:
            assert a[key].dtype == b[key].dtype
            np.testing.assert_array_equal(a[key], b[key])  # bit-identical
    sampling = WindowSampling(batch_size=3, steps=4, crop=6, positive_fraction=0.5)
    plan = training_plan(store, sampling, seed=7, epoch=1)  # the store's (chunk-grouped) order, read from both
    pairs = zip(plan_batches(memory, plan, sampling), training_batches(store, sampling, seed=7, epoch=1), strict=True)
    for a, b in pairs:
        for key in a:
            assert a[key].dtype == b[key].dtype and bool((a[key] == b[key]).all())
    cache = store.inputs.reader.cache
    assert cache.max_bytes == 6 * store.inputs.reader.block_nbytes  # the budget left after the masks
    assert 0 < cache.nbytes <= cache.max_bytes and cache.misses > len(cache)  # bounded: chunks were evicted


def test_the_budget_chooses_memory_or_cache(dataset):
    assert isinstance(WindowData(dataset, WEEKS, memory_gb=small_budget(dataset, 8)).inputs, StoreArray)
    # the default ide.train.memory_gb holds it
    assert isinstance(WindowData(dataset, WEEKS, MEMORY_GB).inputs, np.ndarray)


def test_bad_stores_are_clear_errors_naming_the_path(tmp_path, dataset):
    (tmp_path / "junk.zarr").mkdir()
    (tmp_path / "junk.zarr" / "zarr.json").write_text("{not json")
    with pytest.raises(DataError, match=r"junk.zarr cannot be read as a zarr group"):
        WindowData(tmp_path / "junk.zarr", WEEKS, MEMORY_GB)
    zarr.open_group(str(tmp_path / "empty.zarr"), mode="w", zarr_format=3)
    with pytest.raises(DataError, match=r"empty.zarr: array 'inputs' is missing"):
        WindowData(tmp_path / "empty.zarr", WEEKS, MEMORY_GB)
    with pytest.raises(DataError, match=r"missing.zarr does not exist"):
        WindowData(tmp_path / "missing.zarr", WEEKS, MEMORY_GB)
    import shutil

    shutil.copytree(dataset, tmp_path / "damaged.zarr")
    k = str(11 // ide_dataset.CHUNK_WEEKS)  # the time chunk holding week 11, the target week read below
    (tmp_path / "damaged.zarr" / "inputs" / "c" / "0" / "0" / k / "0" / "0").write_bytes(b"\0" * 40)
    data = WindowData(tmp_path / "damaged.zarr", WEEKS, memory_gb=small_budget(dataset, 4))
    with pytest.raises(DataError, match=rf"damaged.zarr/inputs/c/0/0/{k}/0/0: chunk cannot be decoded"):
        data.window(11)


def test_in_memory_batches_are_the_flipped_windows_of_a_seeded_plan(dataset):
    memory = WindowData(dataset, WEEKS, memory_gb=1.0)
    for fraction, context in ((0.5, 2), (0.0, 0)):
        sampling = WindowSampling(batch_size=3, steps=2, crop=5, positive_fraction=fraction, context=context)
        seeded = dict(seed=11, epoch=2)
        plan = training_plan(memory, sampling, **seeded)
        # a pure function of (seed, epoch)
        np.testing.assert_array_equal(plan, training_plan(memory, sampling, **seeded))
        for other in ({"seed": 12}, {"epoch": 3}):
            assert not np.array_equal(plan, training_plan(memory, sampling, **{**seeded, **other}))
        assert plan.shape == (6, 5) and np.isin(plan[:, 0], memory.target_weeks("train")).all()
        assert ((plan[:, 1:3] >= 0) & (plan[:, 1:3] <= 12 - 5)).all() and np.isin(plan[:, 3:], (0, 1)).all()
        expected = [
            flipped(memory.window(t, slice(y, y + 5), slice(x, x + 5), context), bool(fy), bool(fx))
            for t, y, x, fy, fx in plan.tolist()
        ]
        batches = list(training_batches(memory, sampling, **seeded))
        for i, batch in enumerate(batches):
            reference = stack_windows(expected[3 * i : 3 * i + 3])
            assert batch.keys() == reference.keys() and all(bool((batch[k] == reference[k]).all()) for k in batch)
        assert len(batches) == 2


def chunks_touched(plan, weeks, crop, context=0):
    """The (time, y, x) chunk indices the windows of a plan read."""
    out = set()
    for t, y0, x0, *_ in plan.tolist():
        first = max(t - weeks + 1 - context, 0)
        out.update(
            itertools.product(
                range(first // ide_dataset.CHUNK_WEEKS, t // ide_dataset.CHUNK_WEEKS + 1),
                range(y0 // 5, (y0 + crop - 1) // 5 + 1),
                range(x0 // 5, (x0 + crop - 1) // 5 + 1),
            )
        )
    return out


def test_store_order_is_seeded_in_bounds_and_holds_the_in_memory_windows(dataset):
    memory = WindowData(dataset, WEEKS, memory_gb=1.0)
    store = WindowData(dataset, WEEKS, memory_gb=small_budget(dataset, 40))
    sampling = WindowSampling(batch_size=4, steps=30, crop=4, positive_fraction=0.5, context=1)
    plan = training_plan(store, sampling, seed=3, epoch=0)
    drawn = training_plan(memory, sampling, seed=3, epoch=0)
    # a pure function of (seed, epoch)
    np.testing.assert_array_equal(plan, training_plan(store, sampling, seed=3, epoch=0))
    assert not np.array_equal(plan, training_plan(store, sampling, seed=3, epoch=1))
    assert not np.array_equal(plan, drawn)  # another order ...
    np.testing.assert_array_equal(np.unique(plan, axis=0), np.unique(drawn, axis=0))  # ... of the same windows
    np.testing.assert_array_equal(training_plan(store, sampling, seed=3, epoch=0, grouped=False), drawn)
    t, y0, x0, flips = plan[:, 0], plan[:, 1], plan[:, 2], plan[:, 3:]
    assert np.isin(t, store.target_weeks("train")).all() and (t >= WEEKS - 1).all()
    assert (
        (y0 >= 0).all()
        and (y0 <= 12 - 4).all()
        and (x0 >= 0).all()
        and (x0 <= 12 - 4).all()
        and np.isin(flips, (0, 1)).all()
    )

    # the crops around extremes are kept: as many crops hold an extreme as in memory, more than without
    def with_extreme(rows):
        return np.mean([store.extreme[t, y : y + 4, x : x + 4].any() for t, y, x, *_ in rows.tolist()])

    assert (
        with_extreme(plan)
        == with_extreme(drawn)
        > with_extreme(training_plan(store, replace(sampling, positive_fraction=0.0), seed=3, epoch=0)) + 0.1
    )
    for batch in training_batches(store, replace(sampling, positive_fraction=1.0), seed=3, epoch=0):
        assert batch["target"].flatten(1).any(dim=1).all()  # every crop around an extreme


def test_a_grouped_epoch_decodes_each_chunk_about_once(dataset):
    """A quarter of the store's 234 chunks cached: uniformly random windows decode chunks over and over, the
    chunk-grouped order about once each."""
    sampling = WindowSampling(batch_size=4, steps=100, crop=4, positive_fraction=0.3)
    misses = {}
    for grouped in (False, True):
        store = WindowData(dataset, WEEKS, memory_gb=small_budget(dataset, 60))
        cache = store.inputs.reader.cache
        for epoch in range(2):
            plan = training_plan(store, sampling, seed=5, epoch=epoch, grouped=grouped)
            before = cache.hits, cache.misses
            for _ in plan_batches(store, plan, sampling):
                pass
            hits, missed = cache.hits - before[0], cache.misses - before[1]
            misses[grouped, epoch] = missed, len(chunks_touched(plan, WEEKS, 4)), hits / (hits + missed)
    for epoch in range(2):
        grouped, touched, hit_rate = misses[True, epoch]
        uniform, _, uniform_hit_rate = misses[False, epoch]
        assert touched >= 150 and grouped <= 1.4 * touched and uniform >= 4 * touched, misses
        assert hit_rate > 0.85 > 0.5 > uniform_hit_rate, misses


def test_block_shape_fits_the_budget_with_the_least_overhead():
    grid, reach = np.array([50, 6, 6]), np.array([2, 1, 1])
    blocks = block_shape(grid, reach, 120)
    footprint = np.prod(np.minimum(blocks + reach, grid))
    assert footprint <= 120 and (blocks >= 1).all() and (blocks <= grid).all()
    for other in itertools.product(range(1, 51), range(1, 7), range(1, 7)):  # no block that fits costs less
        f = np.prod(np.minimum(np.array(other) + reach, grid))
        assert f > 120 or f / np.prod(other) >= footprint / np.prod(blocks)
    np.testing.assert_array_equal(block_shape(grid, reach, 5), [1, 1, 1])  # even one chunk does not fit: no grouping
    np.testing.assert_array_equal(block_shape(np.array([3, 2, 2]), reach, 10**6), [3, 2, 2])  # the whole store
