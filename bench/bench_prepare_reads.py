"""Benchmark: random training samples read from the prepared stores vs from in-memory numpy arrays.

Two access patterns on stores written with the prepare layer's chunking (``terraflux.prepare.era5_land.CHUNKS``)
and codec (Blosc zstd + shuffle):

- DERE: one model cell, every month, every driver (monthly store, chunks all months x 16 x 16); an epoch is
  every cell once, in random order;
- IDE: 8 consecutive weeks (random start) x a random 64 x 64 tile of ``{v}_mean`` and ``{v}_std`` of six
  variables (weekly store, chunks 8 weeks x 64 x 64; a window touches up to 2 x 2 x 2 chunks); an epoch is
  as many random windows as the store has chunks per array.

Readers, each timed in its own fresh process (so its peak RSS is its own) on the same seeded epochs:

- ``memory``: every array loaded into numpy first (load time reported), then sliced: the baseline;
- ``reader full``: :class:`terraflux.train.reads.SampleReader` with a cache as large as the data:
  epoch 1 (cold: every chunk decoded on first touch; the files are in the OS page cache, just written)
  and epoch 2 (warm);
- ``reader 25%``: the same with a cache of a quarter of the data (memory bounded; evicted chunks decoded again);
- ``reader grouped``: a small cache (blocks of one chunk of every array: DERE ``--blocks``; IDE 54, as the
  windows of two mixed groups of 2 x 2 x 2 chunks reach up to 2 x 3 x 3 x 3 chunks) and the epoch in
  :func:`terraflux.train.reads.chunk_grouped_order` (random order of groups of chunks, samples of two
  groups mixed; a group is one chunk, or 2 x 2 x 2 chunks when an epoch has fewer than 4 samples per chunk);
- ``zarr direct``: ``array[region]`` per array and sample, as before the reader (a few hundred samples).

IDE training (``--patterns training``): the path training takes, :class:`terraflux.ide.windows.WindowData` and
:func:`terraflux.ide.windows.training_batches` (random crops of random windows, flips, torch batches) on a
``dataset.zarr`` written by :func:`terraflux.ide.dataset.write_dataset` (6 variables x 2 channels, ``--train-weeks``
x 192 x 192, inputs chunked ``--chunk-weeks`` weeks x ``--tile`` x ``--tile``, Blosc LZ4); an epoch is as many
windows (batches of 4, crop 32, half of them around an extreme) as 4 x the store's 8-week x 64 x 64 blocks.
``memory``: ``memory_gb`` above the store (inputs loaded whole: load time reported);
``store full`` / ``store 25%``: ``memory_gb`` leaving a cache of (almost) all / a quarter of ``inputs``
(:class:`terraflux.train.reads.StoreArray`); ``grouped``: the order ``training_batches`` takes on a store
(the same windows as in memory, in the chunk-grouped order of :func:`terraflux.ide.windows.chunk_grouped_windows`:
blocks of chunks in random order, the windows of ``GROUP_MIX`` = 2 blocks shuffled together), ``uniform``: the
windows in the order drawn (as in memory; on a small cache most windows miss it). Printed: cold (epoch 1) and
warm (epoch 2) windows/s and their ratio against memory's warm rate (target >= 0.5), the load-inclusive ratio
(memory's load + epoch 1 over the store's epoch 1), the cache's hit rate, peak RSS, the load average (the
machine's 2 cores are shared: rerun when it is above 1).

Prints samples/s, the ratio against ``memory`` (target >= 0.5), and peak RSS per reader, with the load average.

    python bench/bench_prepare_reads.py [--dir /tmp/tf-bench-reads] [--variables 10] [--weeks 520]
        [--patterns dere ide training] [--train-weeks 208] [--tile 32] [--chunk-weeks 4]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import terraflux  # noqa: F401
from terraflux.prepare import stores
from terraflux.prepare.era5_land import CHUNKS
from terraflux.train.reads import SampleReader, chunk_grouped_order

import numpy as np

MONTHS, NY, NX = 360, 96, 128  # DERE: 30 years of months on a 96 x 128 model grid
WY = WX = 256  # IDE grid; weeks from --weeks
TILE, WINDOW = 64, 8


def smooth_field(rng, shape):
    """Float32 data with realistic compressibility (smooth in time plus small noise)."""
    base = np.cumsum(rng.standard_normal(shape, dtype=np.float32), axis=0) * 0.1
    return (280 + base + 0.01 * rng.standard_normal(shape, dtype=np.float32)).astype(np.float32)


def write_store(path: Path, names: list[str], shape: tuple, chunks: tuple, seed: int) -> None:
    import zarr

    if path.exists():
        shutil.rmtree(path)
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    rng = np.random.default_rng(seed)
    for name in names:
        array = group.create_array(
            name, shape=shape, chunks=chunks, dtype="float32", compressors=[stores.COMPRESSOR], fill_value=np.nan
        )
        array[:] = smooth_field(rng, shape)


def dere_epoch(seed: int) -> list[tuple]:
    rng = np.random.default_rng(seed)
    cells = rng.permutation(NY * NX)
    return [(slice(None), int(c // NX), int(c % NX)) for c in cells]


def ide_epoch(seed: int, n_weeks: int) -> list[tuple]:
    rng = np.random.default_rng(seed)
    count = -(-n_weeks // WINDOW) * (WY // TILE) * (WX // TILE)
    t = rng.integers(0, n_weeks - WINDOW + 1, count)
    y = rng.integers(0, WY - TILE + 1, count)
    x = rng.integers(0, WX - TILE + 1, count)
    return [(slice(a, a + WINDOW), slice(b, b + TILE), slice(c, c + TILE)) for a, b, c in zip(t, y, x, strict=True)]


def rss_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it is not inherited across exec from the parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(read, epoch) -> float:
    start = time.perf_counter()
    for index in epoch:
        read(*index)
    return len(epoch) / (time.perf_counter() - start)


def starts(epoch: list[tuple]) -> np.ndarray:
    return np.array(
        [[0 if i == slice(None) else (i.start if isinstance(i, slice) else i) for i in index] for index in epoch]
    )


def measure(kind: str, path: str, names: list[str], epochs: list[list[tuple]], cache: float) -> dict:
    """Run in a fresh process: samples/s per epoch and this process's peak RSS."""
    import zarr

    group = zarr.open_group(path, mode="r")
    base = rss_mb()
    out = {"rss_start_mb": base}
    if kind == "memory":
        start = time.perf_counter()
        arrays = [group[n][:] for n in names]
        out["load_s"] = time.perf_counter() - start

        def read(*index):
            return np.stack([a[index] for a in arrays])

        out["rates"] = [timed(read, e) for e in epochs]
    elif kind == "zarr":
        arrays = [group[n] for n in names]

        def read(*index):
            return np.stack([a[index] for a in arrays])

        out["rates"] = [timed(read, epochs[0][:300])]
    else:
        probe = SampleReader(group, names, cache_bytes=0)
        total = int(np.prod([-(-n // c) for n, c in zip(probe.shape, probe.chunks, strict=True)])) * probe.block_nbytes
        size = int(total * cache) if cache <= 1 else int(cache) * probe.block_nbytes  # fraction or blocks
        reader = SampleReader(group, names, cache_bytes=size)
        out["cache_mb"] = reader.cache.max_bytes / 2**20
        out["rates"] = []
        n_blocks = total // probe.block_nbytes
        for i, epoch in enumerate(epochs):
            if kind == "grouped":
                unit = [
                    c * (2 if c < n and len(epoch) < 4 * n_blocks else 1)
                    for c, n in zip(reader.chunks, reader.shape, strict=True)
                ]
                order = chunk_grouped_order(starts(epoch), unit, np.random.default_rng(i), mix=2)
                epoch = [epoch[j] for j in order]
            out["rates"].append(timed(reader.read, epoch))
        out["hit_rate"] = reader.cache.hits / max(reader.cache.hits + reader.cache.misses, 1)
    out["rss_mb"] = rss_mb()
    return out


def write_training_dataset(path: Path, weeks: int, chunk: tuple[int, int], seed: int) -> None:
    """A dataset.zarr through the IDE writer: 6 variables x (mean, std), ``weeks`` x 192 x 192, sea on the left."""
    from terraflux.ide import dataset as ide_dataset

    if path.exists():
        shutil.rmtree(path)
    rng = np.random.default_rng(seed)
    size = 192
    time_ = np.datetime64("2001-01-01") + np.arange(weeks) * np.timedelta64(7, "D")
    split = np.zeros(weeks, np.int8)
    split[int(weeks * 0.6) :] = 1
    split[int(weeks * 0.8) :] = 2
    land = np.ones((size, size), bool)
    land[:, :48] = False
    cube = smooth_field(rng, (weeks, 6, 2, size, size))
    cube[..., ~land] = np.nan
    extreme = (rng.random((weeks, size, size)) < 0.02) & land

    def read(start, stop):
        return np.moveaxis(cube[start:stop], 0, 2)

    source = ide_dataset.Source(
        variables=[f"v{i}" for i in range(6)],
        channels=["mean", "std"],
        time=time_,
        week=ide_dataset.week_of_year(time_),
        split=split,
        read=read,
        extreme=extreme,
        extreme_loose=extreme,
        valid=np.broadcast_to(land, extreme.shape).copy(),
        coords={"y": np.arange(size), "x": np.arange(size)},
    )
    was = ide_dataset.CHUNK_WEEKS, ide_dataset.TILE
    ide_dataset.CHUNK_WEEKS, ide_dataset.TILE = chunk
    try:
        ide_dataset.write_dataset(source, path, 10.0, {})
    finally:
        ide_dataset.CHUNK_WEEKS, ide_dataset.TILE = was


def measure_training(
    path: str, budget: str, epochs: int, batch_size: int, windows: int, grouped: bool | None = None
) -> dict:
    """Run in a fresh process: WindowData + training batches windows/s per epoch, load time, peak RSS.

    ``grouped``: None = what ``training_batches`` does (chunk-grouped order on a store), False = uniform order."""
    from terraflux.ide.windows import WindowData, WindowSampling, plan_batches, training_plan

    import zarr

    group = zarr.open_group(path, mode="r")
    inputs = group["inputs"]
    masks = sum(group[n].nbytes for n in ("extreme", "extreme_loose", "valid"))
    cache = {"memory": 4 * inputs.nbytes, "full": inputs.nbytes - 1, "25%": inputs.nbytes // 4}[budget]
    steps = -(-windows // batch_size)
    out = {"rss_start_mb": rss_mb()}
    start = time.perf_counter()
    data = WindowData(path, WINDOW, memory_gb=(masks + cache) / 2**30)
    out["load_s"] = time.perf_counter() - start
    out["kind"] = type(data.inputs).__name__
    out["rates"] = []
    sampling = WindowSampling(batch_size, steps, crop=32, positive_fraction=0.5)
    for epoch in range(epochs):
        start = time.perf_counter()
        plan = training_plan(data, sampling, seed=0, epoch=epoch, grouped=grouped)
        for _ in plan_batches(data, plan, sampling):
            pass
        out["rates"].append(steps * batch_size / (time.perf_counter() - start))
    out["windows"] = steps * batch_size
    if out["kind"] == "StoreArray":
        c = data.inputs.reader.cache
        out["cache_mb"], out["hit_rate"] = c.max_bytes / 2**20, c.hits / max(c.hits + c.misses, 1)
    out["rss_mb"] = rss_mb()
    return out


def training(args, root: Path) -> None:
    path = root / "dataset.zarr"
    write_training_dataset(path, args.train_weeks, (args.chunk_weeks, args.tile), 2)
    gb = 12 * args.train_weeks * 192 * 192 * 4 / 1e9
    print(
        f"IDE training: dataset.zarr inputs float32 12 x {args.train_weeks} x 192 x 192 ({gb:.2f} GB), "
        f"chunks {args.chunk_weeks} weeks x {args.tile} x {args.tile}; load average {os.getloadavg()[0]:.2f}"
    )
    windows = args.train_weeks // 8 * 9 * 4  # 4 windows per 8-week x 64 x 64 block
    memory = run_fn(measure_training, str(path), "memory", 2, 4, windows)
    base = memory["rates"][1]
    n = memory["windows"]
    print(
        f"  memory            : {base:8.0f} windows/s (epoch 1 {memory['rates'][0]:.0f}) "
        f"after a {memory['load_s']:.2f} s load; epoch of {n} windows (batches of 4, crop 32); "
        f"peak RSS {memory['rss_mb']:.0f} MB (interpreter {memory['rss_start_mb']:.0f} MB)"
    )
    for budget, grouped, label in (("full", None, "grouped"), ("25%", False, "uniform"), ("25%", None, "grouped")):
        result = run_fn(measure_training, str(path), budget, 2, 4, windows, grouped)
        cold, warm = result["rates"]
        first_memory, first_store = memory["load_s"] + n / memory["rates"][0], result["load_s"] + n / cold
        print(
            f"  store {budget:4s} {label:7s}: cold {cold:8.0f}/s ratio {cold / base:.2f}; "
            f"warm {warm:8.0f}/s ratio {warm / base:.2f}; "
            f"load-inclusive epoch 1 ratio {first_memory / first_store:.2f} "
            f"({first_store:.2f} s vs memory {first_memory:.2f} s); "
            f"cache {result['cache_mb']:.0f} MB, hit rate {result['hit_rate']:.2f}; "
            f"peak RSS {result['rss_mb']:.0f} MB; "
            f"load average {os.getloadavg()[0]:.2f}"
        )


def run_fn(fn, *args) -> dict:
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def run(kind, *args) -> dict:
    return run_fn(measure, kind, *args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/tf-bench-reads")
    parser.add_argument("--variables", type=int, default=10, help="DERE drivers")
    parser.add_argument("--weeks", type=int, default=520, help="IDE weeks (10 years)")
    parser.add_argument("--blocks", type=int, default=8, help="cache blocks of DERE's 'reader grouped'")
    parser.add_argument("--keep", action="store_true", help="keep the stores")
    parser.add_argument(
        "--patterns", nargs="+", choices=["dere", "ide", "training"], default=["dere", "ide", "training"]
    )
    parser.add_argument("--train-weeks", type=int, default=208, help="weeks of the IDE training dataset (4 years)")
    parser.add_argument(
        "--tile",
        type=int,
        default=None,
        help="spatial chunk of the training dataset (default: terraflux.ide.dataset.TILE)",
    )
    parser.add_argument(
        "--chunk-weeks",
        type=int,
        default=None,
        help="time chunk of the training dataset (default: terraflux.ide.dataset.CHUNK_WEEKS)",
    )
    args = parser.parse_args()
    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    from terraflux.ide.dataset import CHUNK_WEEKS, TILE

    args.tile = args.tile or TILE
    args.chunk_weeks = args.chunk_weeks or CHUNK_WEEKS
    if "training" in args.patterns:
        training(args, root)
    monthly, weekly = root / "monthly.zarr", root / "weekly.zarr"
    mnames = [f"v{i}" for i in range(args.variables)]
    wnames = [f"v{i}_{s}" for i in range(6) for s in ("mean", "std")]
    patterns = {}
    if "dere" in args.patterns:
        write_store(
            monthly,
            mnames,
            (MONTHS, NY, NX),
            (MONTHS, CHUNKS["monthly"]["latitude"], CHUNKS["monthly"]["longitude"]),
            0,
        )
        patterns["DERE"] = (
            str(monthly),
            mnames,
            [dere_epoch(10), dere_epoch(11)],
            f"{args.variables} x {MONTHS} x {NY} x {NX}",
        )
    if "ide" in args.patterns:
        wchunks = (CHUNKS["weekly"]["time"], CHUNKS["weekly"]["latitude"], CHUNKS["weekly"]["longitude"])
        write_store(weekly, wnames, (args.weeks, WY, WX), wchunks, 1)
        patterns["IDE"] = (
            str(weekly),
            wnames,
            [ide_epoch(20, args.weeks), ide_epoch(21, args.weeks)],
            f"12 x {args.weeks} x {WY} x {WX}",
        )
    for label, (path, names, epochs, shape) in patterns.items():
        gb = np.prod([int(s) for s in shape.split(" x ")]) * 4 / 1e9
        print(
            f"{label}: float32 {shape} ({gb:.2f} GB), epoch of {len(epochs[0])} samples; "
            f"load average {os.getloadavg()[0]:.2f}"
        )
        memory = run("memory", path, names, epochs, 1.0)
        base = memory["rates"][1]
        print(
            f"  memory        : {base:8.0f} samples/s (epoch 1 {memory['rates'][0]:.0f}) "
            f"after a {memory['load_s']:.1f} s load; "
            f"peak RSS {memory['rss_mb']:.0f} MB (interpreter {memory['rss_start_mb']:.0f} MB)"
        )
        grouped_blocks = 54 if label == "IDE" else args.blocks
        readers = (
            ("reader full", "reader", 1.0),
            ("reader 25%", "reader", 0.25),
            ("reader grouped", "grouped", grouped_blocks),
            ("zarr direct", "zarr", 1.0),
        )
        for name, kind, fraction in readers:
            result = run(kind, path, names, epochs, fraction)
            rates = result["rates"]
            if kind in ("reader", "grouped"):
                print(
                    f"  {name:14s}: cold {rates[0]:8.0f}/s ratio {rates[0] / base:.2f}; "
                    f"warm {rates[1]:8.0f}/s ratio {rates[1] / base:.2f}; "
                    f"epoch 1 {len(epochs[0]) / rates[0]:.1f} s vs memory load + epoch "
                    f"{memory['load_s'] + len(epochs[0]) / base:.1f} s; "
                    f"cache {result['cache_mb']:.0f} MB, hit rate {result['hit_rate']:.2f}; "
                    f"peak RSS {result['rss_mb']:.0f} MB; "
                    f"load average {os.getloadavg()[0]:.2f}"
                )
            else:
                print(
                    f"  {name:14s}: {rates[0]:8.0f}/s ratio {rates[0] / base:.3f}; peak RSS {result['rss_mb']:.0f} MB"
                )
    if not args.keep:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
