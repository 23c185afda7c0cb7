"""IDE datasets: normalised weekly cubes and windows of T weeks.

Stage ``ide_dataset`` writes one store per dataset (``dataset.zarr``), read by training and testing whole
into memory, or through a bounded cache of decoded chunks when larger than ``ide.train.memory_gb``:

- ``inputs(variable, channel, time, y, x)`` float32: (x - weekly per-pixel climatological mean) / weekly
  per-pixel std, climatology from training weeks only, clipped to +-``clip``, NaN/inf -> 0;
- ``extreme(time, y, x)`` bool: the target (benchmark extremes, or NOAA VHI < 26);
- ``extreme_loose(time, y, x)`` bool: VHI < 35 (benchmark: the extremes and their rings, the weeks around
  them where drivers may lie); the driver loss applies only at pixels with no loose extreme in the window;
- ``valid(time, y, x)`` bool: pixels whose target exists (land, VHI present);
- coordinates ``time``, ``week(time)`` 1..52, ``split(time)`` 0/1/2 = train/val/test.

A window ends at its target week t and holds weeks t, t-1, ..., t-T+1 (newest first); it may cross year
and split boundaries (its split is the target week's). Training epochs (:func:`training_plan`) take their
windows in the order drawn from memory, in a chunk-grouped order through the cache (each chunk decoded about
once per epoch; :func:`chunk_grouped_windows`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from zarr.codecs import BloscCodec

from terraflux.errors import DataError
from terraflux.prepare.samples import StoreArray, chunk_grouped_order, load_or_cache

SPLITS = {"train": 0, "val": 1, "test": 2}
WEEKS = 52
log = logging.getLogger(__name__)
# dataset.zarr ``inputs`` chunks: every variable and channel x CHUNK_WEEKS weeks x TILE x TILE pixels,
# so a training window (T weeks x a crop) decodes a few small chunks (bench/bench_prepare_reads.py);
# Blosc LZ4 decodes about twice as fast as zstd at a slightly larger size.
CHUNK_WEEKS = 4
TILE = 32
INPUTS_COMPRESSOR = BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")


def week_of_year(dates) -> np.ndarray:
    """Week of year 1..52 of datetime64 values: min((doy - 1) // 7 + 1, 52) (days 365/366 fold into 52)."""
    doy = np.asarray(dates, dtype="datetime64[D]")
    years = doy.astype("datetime64[Y]")
    day = (doy - years).astype(int) + 1
    return np.minimum((day - 1) // 7 + 1, WEEKS).astype(np.int16)


class Climatology:
    """Weekly per-pixel mean and std accumulated over time blocks of training weeks (float64 sums).

    ``add(block [C, t, H, W], weeks [t])`` then ``finish()`` -> (mean, std) [C, 52, H, W] float32.
    A week with fewer than 2 training samples, or zero spread, gets std 1 (and mean 0 if unseen).
    """

    def __init__(self, shape: tuple[int, int, int]):
        c, h, w = shape
        self.n = np.zeros((WEEKS, h, w), np.float64)
        self.s = np.zeros((c, WEEKS, h, w), np.float64)
        self.s2 = np.zeros((c, WEEKS, h, w), np.float64)

    def add(self, block: np.ndarray, weeks: np.ndarray) -> None:
        for i, week in enumerate(np.asarray(weeks)):
            values = block[:, i].astype(np.float64)
            finite = np.isfinite(values).all(axis=0)
            values = np.where(finite, values, 0.0)
            self.n[week - 1] += finite
            self.s[:, week - 1] += values
            self.s2[:, week - 1] += values**2

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        n = np.maximum(self.n, 1)[None]
        mean = self.s / n
        var = np.maximum(self.s2 / n - mean**2, 0) * n / np.maximum(n - 1, 1)
        std = np.sqrt(var)
        std = np.where((self.n[None] >= 2) & (std > 1e-6 * (1 + np.abs(mean))), std, 1.0)
        return mean.astype(np.float32), std.astype(np.float32)


def normalise(block: np.ndarray, weeks: np.ndarray, mean: np.ndarray, std: np.ndarray, clip: float) -> np.ndarray:
    """(block - mean[week]) / std[week], clipped to +-clip, NaN/inf -> 0. block [C, t, H, W] -> float32."""
    idx = np.asarray(weeks) - 1
    out = (block - mean[:, idx]) / std[:, idx]
    out = np.clip(out, -clip, clip)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


@dataclass
class Source:
    """A weekly source seen as blocks: ``read(start, stop) -> [V, C, t, H, W]`` float32 and labels."""

    variables: list[str]
    channels: list[str]
    time: np.ndarray
    week: np.ndarray
    split: np.ndarray  # int8 per time
    read: Callable[[int, int], np.ndarray]
    extreme: np.ndarray  # [T, H, W] bool
    extreme_loose: np.ndarray
    valid: np.ndarray  # [T, H, W] bool
    coords: dict
    block: int = 8


def write_dataset(source: Source, path: str | Path, clip: float, attrs: dict) -> dict:
    """Two passes over ``source``: training-weeks climatology, then normalised blocks into ``path`` (zarr 3).

    Returns a small summary (shape, fraction of extremes per split).
    """
    import dask.array as da
    import xarray as xr
    import zarr

    nv, nc = len(source.variables), len(source.channels)
    nt = len(source.time)
    h, w = source.valid.shape[1:]
    if not (source.split == SPLITS["train"]).any():
        raise DataError("no training weeks in the dataset: check period.train_years (or ide.benchmark.train_fraction)")
    clim = Climatology((nv * nc, h, w))
    for start in range(0, nt, source.block):
        stop = min(start + source.block, nt)
        train = source.split[start:stop] == SPLITS["train"]
        if train.any():
            block = source.read(start, stop).reshape(nv * nc, stop - start, h, w)
            clim.add(block[:, train], source.week[start:stop][train])
    mean, std = clim.finish()
    ds = xr.Dataset(
        {
            "inputs": (
                ("variable", "channel", "time", "y", "x"),
                da.zeros((nv, nc, nt, h, w), dtype=np.float32, chunks=(nv, nc, CHUNK_WEEKS, TILE, TILE)),
            ),
            "extreme": (("time", "y", "x"), source.extreme),
            "extreme_loose": (("time", "y", "x"), source.extreme_loose),
            "valid": (("time", "y", "x"), source.valid),
            "clim_mean": (("variable", "channel", "week", "y", "x"), mean.reshape(nv, nc, WEEKS, h, w)),
            "clim_std": (("variable", "channel", "week", "y", "x"), std.reshape(nv, nc, WEEKS, h, w)),
        },
        coords={
            "variable": np.array(source.variables, dtype=object),
            "channel": np.array(source.channels, dtype=object),
            "time": source.time,
            "week": np.arange(1, WEEKS + 1),
            "week_of_year": ("time", source.week.astype(np.int16)),
            "split": ("time", source.split.astype(np.int8), {"flag_values": [0, 1, 2], "flag_meanings": "train val test"}),
            **source.coords,
        },
        attrs={"clip": clip, **attrs},
    )
    ds["inputs"].attrs.update(units="1", long_name="anomaly normalised by the training weeks' climatology, clipped")
    ds.to_zarr(path, mode="w", compute=False, zarr_format=3, consolidated=False, encoding={"inputs": {"compressors": (INPUTS_COMPRESSOR,)}})
    group = zarr.open_group(path, mode="r+")
    for start in range(0, nt, source.block):
        stop = min(start + source.block, nt)
        block = source.read(start, stop).reshape(nv * nc, stop - start, h, w)
        norm = normalise(block, source.week[start:stop], mean, std, clip)
        group["inputs"][:, :, start:stop] = norm.reshape(nv, nc, stop - start, h, w)
    return {
        "shape": {"variable": nv, "channel": nc, "time": nt, "y": h, "x": w},
        "extreme_fraction": {
            name: float(source.extreme[(source.split == code)][source.valid[source.split == code]].mean())
            if (source.split == code).any() and source.valid[source.split == code].any()
            else None
            for name, code in SPLITS.items()
        },
    }


def benchmark_source(path: str | Path, block: int = 8) -> Source:
    """The benchmark store (``ide.benchmark``) as a :class:`Source` (1 channel per variable)."""
    group = _open(path)
    data = group["data"]
    extreme = np.asarray(group["extreme"][:])
    ring = np.asarray(group["ring"][:])
    valid = np.broadcast_to(np.asarray(group["valid"][:]), extreme.shape).copy()
    return Source(
        variables=[str(v) for v in group["variable"][:]],
        channels=["value"],
        time=np.asarray(group["time"][:]),
        week=np.asarray(group["week"][:]),
        split=np.asarray(group["split"][:]),
        read=lambda start, stop: np.asarray(data[:, start:stop])[:, None],
        extreme=extreme,
        extreme_loose=extreme | ring,
        valid=valid,
        coords={"y": np.asarray(group["y"][:]), "x": np.asarray(group["x"][:])},
        block=block,
    )


def weekly_source(
    weekly_path: str | Path,
    vhp_path: str | Path,
    *,
    variables: list[str],
    train_years: list[int],
    val_years: list[int],
    test_years: list[int],
    block: int = 8,
) -> Source:
    """A prepared weekly store (``era5_land_weekly.zarr`` / ``cerra_weekly.zarr``) and its VHP store.

    Per variable the channels ``{v}_mean`` and ``{v}_std``; ``variables`` empty = every variable with both
    (sorted names). Targets from ``vhp_{dataset}.zarr`` (``extreme``, ``extreme_loose``, ``VHI``) on the same
    weekly grid, matched by ``time``; valid = ``land_mask`` and VHI present. Weeks outside the three year
    lists are dropped.
    """
    weekly = _open_dataset(weekly_path)
    vhp = _open_dataset(vhp_path)
    available = sorted(n[: -len("_mean")] for n in weekly.data_vars if n.endswith("_mean") and not n.endswith("_clim") and f"{n[:-5]}_std" in weekly)
    chosen = sorted(variables) if variables else available
    missing = [v for v in chosen if v not in available]
    if missing:
        raise DataError(f"{weekly_path}: variables {missing} are not in the store (it has {available}); fix config key ide.variables")
    if not chosen:
        raise DataError(f"{weekly_path}: no '{{v}}_mean' / '{{v}}_std' variables found; is it a prepared weekly store?")
    for name in ("extreme", "extreme_loose", "VHI"):
        if name not in vhp:
            raise DataError(f"{vhp_path}: variable '{name}' is missing; rerun the stage that prepares the VHP store")
    ydim, xdim = weekly[f"{chosen[0]}_mean"].dims[-2:]
    if tuple(vhp["VHI"].dims[-2:]) != (ydim, xdim) or vhp.sizes[ydim] != weekly.sizes[ydim] or vhp.sizes[xdim] != weekly.sizes[xdim]:
        raise DataError(f"{vhp_path}: VHI grid {dict(vhp['VHI'].sizes)} does not match {weekly_path} ({ydim}, {xdim})")
    times = np.intersect1d(weekly["time"].values, vhp["time"].values)
    years = times.astype("datetime64[Y]").astype(int) + 1970
    split = np.full(len(times), -1, np.int8)
    for code, group in ((0, train_years), (1, val_years), (2, test_years)):
        split[np.isin(years, group)] = code
    keep = split >= 0
    times, split = times[keep], split[keep]
    if len(times) == 0:
        raise DataError(f"{weekly_path} and {vhp_path} share no week in the configured period years")
    weekly = weekly.sel(time=times)
    vhp = vhp.sel(time=times)
    land = np.asarray(weekly["land_mask"].values, bool) if "land_mask" in weekly else np.ones((weekly.sizes[ydim], weekly.sizes[xdim]), bool)
    vhi = vhp["VHI"].values
    valid = land[None] & np.isfinite(vhi)
    arrays = [(weekly[f"{v}_mean"], weekly[f"{v}_std"]) for v in chosen]

    def read(start: int, stop: int) -> np.ndarray:
        return np.stack([np.stack([m[start:stop].values, s[start:stop].values]) for m, s in arrays]).astype(np.float32)

    coords = {"y": np.arange(weekly.sizes[ydim]), "x": np.arange(weekly.sizes[xdim])}
    for name in ("latitude", "longitude"):
        if name in weekly.coords:
            coords[name] = (tuple("y" if d == ydim else "x" for d in weekly[name].dims), weekly[name].values)
    return Source(
        variables=chosen,
        channels=["mean", "std"],
        time=times,
        week=week_of_year(times),
        split=split,
        read=read,
        extreme=np.asarray(vhp["extreme"].values, bool) & valid,
        extreme_loose=np.asarray(vhp["extreme_loose"].values, bool) & valid,
        valid=valid,
        coords=coords,
        block=block,
    )


def _open(path):
    import warnings

    import zarr

    if not Path(path).exists():
        raise DataError(f"{path} does not exist: run the stage that writes it first")
    # Snakemake leaves a timestamp file in directory outputs; zarr warns about the stranger.
    warnings.filterwarnings("ignore", message="Object at .snakemake_timestamp")
    try:
        return zarr.open_group(path, mode="r")
    except Exception as error:
        raise DataError(f"{path} cannot be read as a zarr group ({error}); rerun the stage that writes it") from error


def _open_dataset(path):
    import xarray as xr

    if not Path(path).exists():
        raise DataError(f"{path} does not exist: run the stage that writes it first")
    try:
        return xr.open_zarr(path, consolidated=False)
    except Exception as error:
        raise DataError(f"{path} cannot be read as a zarr store ({error}); rerun the stage that writes it") from error


# ------------------------------------------------------------------------------------------------- windows


DEFAULT_MEMORY_GB = 8.0  # config ide.train.memory_gb


class WindowData:
    """A ``dataset.zarr`` cut into windows of ``weeks`` weeks (newest first), bounded in memory.

    Arrays: inputs [V, C, T, H, W] float32, extreme / extreme_loose / valid [T, H, W] bool, split [T].
    The masks are held in numpy (1/72 of ``inputs`` with 9 variables x 2 channels); ``inputs`` too when
    masks and inputs fit ``memory_gb`` (GiB; config ``ide.train.memory_gb``), else a :class:`terraflux.prepare.samples.StoreArray` over the store: same
    indexing and values, read in decoded chunks through a cache of the rest of the budget.
    """

    def __init__(self, path: str | Path, weeks: int, memory_gb: float = DEFAULT_MEMORY_GB):
        group = _open(path)
        self.path = Path(path)
        self.weeks = weeks
        for name in ("inputs", "extreme", "extreme_loose", "valid", "split", "variable"):
            if name not in group:
                raise DataError(f"{path}: array '{name}' is missing; is it an IDE dataset.zarr? Rerun ide_dataset")
        self.extreme = np.asarray(group["extreme"][:])
        self.extreme_loose = np.asarray(group["extreme_loose"][:])
        self.valid = np.asarray(group["valid"][:])
        budget = memory_gb * 2**30
        masks = self.extreme.nbytes + self.extreme_loose.nbytes + self.valid.nbytes
        self.inputs = load_or_cache(group, "inputs", int(budget - masks))
        if not isinstance(self.inputs, np.ndarray):
            log.info(
                "%s: inputs (%.2f GiB) exceed the memory budget (%.2f GiB): read through a cache of %.2f GiB of decoded chunks",
                path,
                self.inputs.nbytes / 2**30,
                budget / 2**30,
                self.inputs.reader.cache.max_bytes / 2**30,
            )
        self.split = np.asarray(group["split"][:])
        self.variables = [str(v) for v in group["variable"][:]]
        self.time = _open_dataset(path)["time"].values  # decoded (datetime64 on real data)
        self._positives: dict[str, np.ndarray] = {}
        nt = self.inputs.shape[2]
        if nt < weeks:
            raise DataError(f"{path}: {nt} weeks is fewer than a window (ide.weeks = {weeks})")

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        return self.inputs.shape

    def targets(self, split: str) -> np.ndarray:
        """Target weeks t of the windows of a split (t >= weeks - 1, so the window is complete)."""
        t = np.flatnonzero(self.split == SPLITS[split])
        return t[t >= self.weeks - 1]

    def positives(self, split: str) -> np.ndarray:
        """(t, y, x) of the valid extreme pixels at the target weeks of a split, [n, 3] (cached)."""
        if split not in self._positives:
            t = self.targets(split)
            found = np.argwhere(self.extreme[t] & self.valid[t])
            found[:, 0] = t[found[:, 0]]
            self._positives[split] = found
        return self._positives[split]

    def window(self, t: int, ys: slice = slice(None), xs: slice = slice(None), context: int = 0) -> dict[str, np.ndarray]:
        """One window ending at week t: x [V, C, T + context, h, w] newest first, target / valid / normal [h, w].

        ``context``: weeks before the window that the model reads too (zeros, the climatology, before the
        first week of the store). ``normal``: valid pixels with no (loose) extreme in any week of the window
        (the driver loss there pulls every code to "normal").
        """
        lo = t - self.weeks + 1
        first = lo - context
        x = self.inputs[:, :, max(first, 0) : t + 1, ys, xs][:, :, ::-1]
        if first < 0:
            x = np.concatenate([x, np.zeros((*x.shape[:2], -first, *x.shape[3:]), x.dtype)], axis=2)
        loose = self.extreme_loose[lo : t + 1, ys, xs].any(axis=0) | self.extreme[lo : t + 1, ys, xs].any(axis=0)
        valid = self.valid[t, ys, xs]
        return {"x": x, "target": self.extreme[t, ys, xs] & valid, "valid": valid, "normal": valid & ~loose}


def stack(windows: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Stack windows into a batch of tensors: x [N, V, C, T, H, W], target/valid/normal [N, H, W]."""
    return {k: torch.from_numpy(np.ascontiguousarray(np.stack([w[k] for w in windows]))) for k in windows[0]}


def augment(window: dict[str, np.ndarray], flip_y: bool, flip_x: bool) -> dict[str, np.ndarray]:
    """Flip inputs and every mask alike (both flips = a 180 degree rotation)."""
    out = dict(window)
    for key, value in window.items():
        if flip_y:
            value = value[..., ::-1, :]
        if flip_x:
            value = value[..., ::-1]
        out[key] = value
    return out


def training_plan(
    data: WindowData,
    *,
    batch_size: int,
    steps: int,
    crop: int,
    seed: int,
    epoch: int,
    positive_fraction: float = 0.0,
    context: int = 0,
    grouped: bool | None = None,
) -> np.ndarray:
    """The windows of an epoch of :func:`training_batches`, in batch order: ``[steps * batch_size, 5]`` int64
    rows (target week t, crop start y0, x0, flip_y, flip_x); crops are ``min(crop, H) x min(crop, W)``.

    Windows are drawn independently: with probability ``positive_fraction`` the crop is centred (up to a
    random offset) on a random extreme pixel of a training target week, else window and crop are uniform.
    When ``data.inputs`` is an in-memory numpy array the rows are in the order drawn; when it is read from the
    store through a cache smaller than the data (:class:`terraflux.prepare.samples.StoreArray`) the same rows
    are put in a chunk-grouped order (:func:`chunk_grouped_windows`) so that each chunk is decoded about once
    per epoch (``grouped`` True / False forces either order; the grouped one needs a store-backed ``data``).
    A pure function of (seed, epoch) and, for a store, of its chunking and cache size.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(epoch,)))
    targets = data.targets("train")
    if len(targets) == 0:
        raise DataError(f"{data.path}: no training window of {data.weeks} weeks")
    _, _, _, h, w = data.shape
    ch, cw = min(crop, h), min(crop, w)
    positives = data.positives("train") if positive_fraction > 0 else np.zeros((0, 3), int)
    plan = np.empty((steps * batch_size, 5), np.int64)
    for i in range(len(plan)):
        if len(positives) and rng.random() < positive_fraction:
            t, py, px = (int(v) for v in positives[rng.integers(len(positives))])
            y0 = int(np.clip(py - rng.integers(0, ch), 0, h - ch))
            x0 = int(np.clip(px - rng.integers(0, cw), 0, w - cw))
        else:
            t = int(rng.choice(targets))
            y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        flips = rng.integers(0, 2, size=2)
        plan[i] = (t, y0, x0, flips[0], flips[1])
    if grouped is None:
        grouped = isinstance(data.inputs, StoreArray)
    if grouped:
        if not isinstance(data.inputs, StoreArray):
            raise ValueError("the chunk-grouped order is for inputs read through a cache (StoreArray); these are in memory")
        order_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(epoch, 1)))
        plan = plan[chunk_grouped_windows(data, plan, (ch, cw), context, order_rng)]
    return plan


GROUP_MIX = 2  # blocks of chunks whose windows are shuffled together in the chunk-grouped order


def chunk_grouped_windows(data: WindowData, plan: np.ndarray, crop: tuple[int, int], context: int, rng: np.random.Generator) -> np.ndarray:
    """A chunk-grouped order of the windows ``plan`` (rows t, y0, x0, ...) of a store-backed ``data``.

    Uniformly random windows over a store larger than its cache miss the cache and decode chunks again and
    again. Here the store's chunk grid is cut into blocks (time chunks x spatial chunks), visited in random
    order, the windows of ``GROUP_MIX`` blocks at a time shuffled together
    (:func:`terraflux.prepare.samples.chunk_grouped_order`, windows grouped by the chunk holding their first
    week and first pixel). A block is the shape whose ``GROUP_MIX`` copies, with the chunks the windows reach
    beyond it (weeks + context, crop), fit the cache with the least re-decoding of those edge chunks. The
    epoch holds the same windows as the in-memory order: only the order changes, so ``positive_fraction`` and
    the window distribution are kept; the price is that consecutive batches come from a few blocks, not the
    whole store. Returns a permutation of ``range(len(plan))``.
    """
    reader = data.inputs.reader
    chunks = np.asarray(reader.chunks[2:], np.int64)  # weeks, y, x of a chunk
    grid = -(-np.asarray(reader.shape[2:], np.int64) // chunks)
    extent = np.array([data.weeks + context, *crop], np.int64)
    reach = (chunks + extent - 2) // chunks  # chunks a window reaches beyond its first one
    blocks = block_shape(grid, reach, reader.cache.max_bytes // reader.block_nbytes // GROUP_MIX)
    first = np.maximum(plan[:, 0] - data.weeks + 1 - context, 0)
    starts = np.stack([first, plan[:, 1], plan[:, 2]], axis=1)
    return chunk_grouped_order(starts, blocks * chunks, rng, mix=GROUP_MIX)


def block_shape(grid: np.ndarray, reach: np.ndarray, budget: int) -> np.ndarray:
    """Chunks per block along (time, y, x) (1 <= b <= grid) whose footprint, the block plus the ``reach``
    chunks windows starting in it extend beyond it (clipped to the grid), is at most ``budget`` chunks,
    minimising footprint / block (the chunks decoded per chunk of the block); ties go to the smaller block.
    All ones when even that does not fit.

    Every spatial shape is tried (vectorised); for each, the longest block in time that fits is the cheapest
    ((b + r) / b falls with b), so the search costs grid_y x grid_x, not the whole grid.
    """
    (gt, gy, gx), (rt, ry, rx) = (int(n) for n in grid), (int(r) for r in reach)
    by, bx = (a.ravel() for a in np.meshgrid(np.arange(1, gy + 1), np.arange(1, gx + 1), indexing="ij"))
    space = np.minimum(by + ry, gy) * np.minimum(bx + rx, gx)
    weeks = budget // space  # time chunks the footprint may span
    bt = np.where(weeks >= gt, gt, np.minimum(weeks - rt, gt))  # the longest block whose footprint fits
    fits = bt >= 1
    if not fits.any():
        return np.ones(3, np.int64)
    by, bx, bt, space = by[fits], bx[fits], bt[fits], space[fits]
    footprint = np.minimum(bt + rt, gt) * space
    volume = bt * by * bx
    cost = footprint / volume
    best = np.flatnonzero(np.isclose(cost, cost.min(), rtol=1e-12, atol=0))
    pick = best[np.argmin(volume[best])]
    return np.array([bt[pick], by[pick], bx[pick]], np.int64)


def training_batches(
    data: WindowData, *, batch_size: int, steps: int, crop: int, seed: int, epoch: int, positive_fraction: float = 0.0, context: int = 0
) -> Iterator[dict[str, torch.Tensor]]:
    """``steps`` batches of random crops of random training windows, flipped at random.

    The windows of :func:`training_plan`, ``batch_size`` at a time: with probability ``positive_fraction``
    a crop is centred (up to a random offset) on a random extreme pixel of a training target week, so that
    small crops still see extremes; otherwise window and crop are uniform. Data in memory: windows in the
    order drawn. Data read from the store through a smaller cache: the same windows in a chunk-grouped order
    (:func:`chunk_grouped_windows`: each batch from a few blocks of the store, each chunk decoded about once
    per epoch). ``context``: see :meth:`WindowData.window`. A pure function of (seed, epoch): the engine
    replays an epoch's order on resume.
    """
    plan = training_plan(
        data, batch_size=batch_size, steps=steps, crop=crop, seed=seed, epoch=epoch, positive_fraction=positive_fraction, context=context
    )
    return plan_batches(data, plan, batch_size=batch_size, crop=crop, context=context)


def plan_batches(data: WindowData, plan: np.ndarray, *, batch_size: int, crop: int, context: int = 0) -> Iterator[dict[str, torch.Tensor]]:
    """The batches of ``batch_size`` windows of a :func:`training_plan` (in its order), flipped as it says."""
    _, _, _, h, w = data.shape
    ch, cw = min(crop, h), min(crop, w)
    for batch in plan.reshape(-1, batch_size, 5):
        windows = []
        for t, y0, x0, flip_y, flip_x in batch.tolist():
            window = data.window(t, slice(y0, y0 + ch), slice(x0, x0 + cw), context)
            windows.append(augment(window, bool(flip_y), bool(flip_x)))
        yield stack(windows)


def tiles(size: int, tile: int) -> list[slice]:
    """Slices covering [0, size) with tiles of at most ``tile`` (0 = whole)."""
    if tile <= 0 or tile >= size:
        return [slice(0, size)]
    return [slice(s, min(s + tile, size)) for s in range(0, size, tile)]


def evenly(values: np.ndarray, count: int) -> np.ndarray:
    """At most ``count`` evenly spaced elements of ``values`` (all if count <= 0)."""
    if count <= 0 or len(values) <= count:
        return values
    return values[np.linspace(0, len(values) - 1, count).round().astype(int)]


def truth_drivers(path: str | Path, data: "WindowData | None" = None) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth drivers for evaluation only: (driver [V, T, H, W] bool aligned to ``data``'s variables
    and weeks, has_truth [V] bool).

    The benchmark store aligns by construction. A synthetic world's ``truth/extremes*.zarr``
    (``driver(variable, time, lat/y, lon/x)``) is matched by variable name and time; variables it does
    not list have no truth (and are left out of the driver metrics).
    """
    group = _open(path)
    if data is None or "ring" in group:
        driver = np.asarray(group["driver"][:])
        return driver, np.ones(driver.shape[0], bool)
    ds = _open_dataset(path)
    names = [str(v) for v in ds["variable"].values]
    times = np.intersect1d(ds["time"].values, data.time)
    if len(times) != len(data.time):
        raise DataError(f"{path}: the truth does not cover the dataset's {len(data.time)} weeks (only {len(times)})")
    driver = ds["driver"].sel(time=data.time).values.astype(bool)
    nv, _, nt, h, w = data.shape
    if driver.shape[-2:] != (h, w):
        raise DataError(f"{path}: truth grid {driver.shape[-2:]} differs from the dataset's {(h, w)}")
    out = np.zeros((nv, nt, h, w), bool)
    has = np.array([v in names for v in data.variables])
    for i, v in enumerate(data.variables):
        if v in names:
            out[i] = driver[names.index(v)]
    return out, has
