"""Windows of an IDE ``dataset.zarr`` (:mod:`terraflux.ide.dataset`): reading, training plans and batches.

A window ends at its target week t and holds weeks t, t-1, ..., t-T+1 (newest first); it may cross year
and split boundaries (its split is the target week's). :class:`WindowData` holds a dataset whole in memory,
or reads its inputs through a bounded cache of decoded chunks (:mod:`terraflux.train.reads`) when larger than
``ide.train.memory_gb``. A training epoch (:func:`training_plan` of a :class:`WindowSampling`) takes its windows
in the order drawn from memory, in a chunk-grouped order through the cache (each chunk decoded about once per
epoch; :func:`chunk_grouped_windows`). :func:`tile_slices` and :func:`evenly_spaced` cut grids and splits for
validation and test.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from terraflux.errors import DataError
from terraflux.ide.dataset import SPLITS, open_dataset
from terraflux.train.reads import StoreArray, chunk_grouped_order, load_or_cache, open_group

import numpy as np
import torch

log = logging.getLogger(__name__)


class WindowData:
    """A ``dataset.zarr`` cut into windows of ``weeks`` weeks (newest first), bounded in memory.

    Arrays: inputs [V, C, T, H, W] float32, extreme / extreme_loose / valid [T, H, W] bool, split [T].
    The masks are held in numpy (1/72 of ``inputs`` with 9 variables x 2 channels); ``inputs`` too when
    masks and inputs fit ``memory_gb`` (GiB; config ``ide.train.memory_gb``), else a
    :class:`terraflux.train.reads.StoreArray` over the store: same indexing and values, read in decoded chunks
    through a cache of the rest of the budget.
    """

    def __init__(self, path: str | Path, weeks: int, memory_gb: float):
        group = open_group(path)
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
                "%s: inputs (%.2f GiB) exceed the memory budget (%.2f GiB): read through a cache of %.2f GiB of "
                "decoded chunks",
                path,
                self.inputs.nbytes / 2**30,
                budget / 2**30,
                self.inputs.reader.cache.max_bytes / 2**30,
            )
        self.split = np.asarray(group["split"][:])
        self.variables = [str(v) for v in group["variable"][:]]
        self.time = open_dataset(path)["time"].values  # decoded (datetime64 on real data)
        self._positives: dict[str, np.ndarray] = {}
        nt = self.inputs.shape[2]
        if nt < weeks:
            raise DataError(f"{path}: {nt} weeks is fewer than a window (ide.weeks = {weeks})")

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        return self.inputs.shape

    def target_weeks(self, split: str) -> np.ndarray:
        """Target weeks t of the windows of a split (t >= weeks - 1, so the window is complete)."""
        t = np.flatnonzero(self.split == SPLITS[split])
        return t[t >= self.weeks - 1]

    def positives(self, split: str) -> np.ndarray:
        """(t, y, x) of the valid extreme pixels at the target weeks of a split, [n, 3] (cached)."""
        if split not in self._positives:
            t = self.target_weeks(split)
            found = np.argwhere(self.extreme[t] & self.valid[t])
            found[:, 0] = t[found[:, 0]]
            self._positives[split] = found
        return self._positives[split]

    def window(
        self, t: int, ys: slice = slice(None), xs: slice = slice(None), context: int = 0
    ) -> dict[str, np.ndarray]:
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


def stack_windows(windows: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Stack windows into a batch of tensors: x [N, V, C, T, H, W], target/valid/normal [N, H, W]."""
    return {k: torch.from_numpy(np.ascontiguousarray(np.stack([w[k] for w in windows]))) for k in windows[0]}


def flipped(window: dict[str, np.ndarray], flip_y: bool, flip_x: bool) -> dict[str, np.ndarray]:
    """Flip inputs and every mask alike (both flips = a 180 degree rotation)."""
    out = dict(window)
    for key, value in window.items():
        if flip_y:
            value = value[..., ::-1, :]
        if flip_x:
            value = value[..., ::-1]
        out[key] = value
    return out


@dataclass(frozen=True)
class WindowSampling:
    """How a training epoch samples windows: ``steps`` batches of ``batch_size`` crops of ``crop`` x ``crop``
    pixels (at most the grid), a share ``positive_fraction`` of them placed around an extreme pixel, each
    window with the ``context`` weeks before it that the model reads (:meth:`WindowData.window`)."""

    batch_size: int
    steps: int
    crop: int
    positive_fraction: float
    context: int = 0

    def crop_shape(self, height: int, width: int) -> tuple[int, int]:
        return min(self.crop, height), min(self.crop, width)


def training_plan(
    data: WindowData, sampling: WindowSampling, *, seed: int, epoch: int, grouped: bool | None = None
) -> np.ndarray:
    """The windows of an epoch of :func:`training_batches`, in batch order: ``[steps * batch_size, 5]`` int64
    rows (target week t, crop start y0, x0, flip_y, flip_x) of ``sampling``; crops are ``min(crop, H) x
    min(crop, W)``.

    Windows are drawn independently: with probability ``positive_fraction`` the crop is centred (up to a
    random offset) on a random extreme pixel of a training target week, else window and crop are uniform.
    When ``data.inputs`` is an in-memory numpy array the rows are in the order drawn; when it is read from the
    store through a cache smaller than the data (:class:`terraflux.train.reads.StoreArray`) the same rows
    are put in a chunk-grouped order (:func:`chunk_grouped_windows`) so that each chunk is decoded about once
    per epoch (``grouped`` True / False forces either order; the grouped one needs a store-backed ``data``).
    A pure function of (seed, epoch) and, for a store, of its chunking and cache size.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(epoch,)))
    targets = data.target_weeks("train")
    if len(targets) == 0:
        raise DataError(f"{data.path}: no training window of {data.weeks} weeks")
    _, _, _, h, w = data.shape
    ch, cw = sampling.crop_shape(h, w)
    positive_fraction = sampling.positive_fraction
    positives = data.positives("train") if positive_fraction > 0 else np.zeros((0, 3), int)
    plan = np.empty((sampling.steps * sampling.batch_size, 5), np.int64)
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
            raise ValueError(
                "the chunk-grouped order is for inputs read through a cache (StoreArray); these are in memory"
            )
        order_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(epoch, 1)))
        plan = plan[chunk_grouped_windows(data, plan, (ch, cw), sampling.context, order_rng)]
    return plan


GROUP_MIX = 2  # blocks of chunks whose windows are shuffled together in the chunk-grouped order


def chunk_grouped_windows(
    data: WindowData, plan: np.ndarray, crop: tuple[int, int], context: int, rng: np.random.Generator
) -> np.ndarray:
    """A chunk-grouped order of the windows ``plan`` (rows t, y0, x0, ...) of a store-backed ``data``.

    Uniformly random windows over a store larger than its cache miss the cache and decode chunks again and
    again. Here the store's chunk grid is cut into blocks (time chunks x spatial chunks), visited in random
    order, the windows of ``GROUP_MIX`` blocks at a time shuffled together
    (:func:`terraflux.train.reads.chunk_grouped_order`, windows grouped by the chunk holding their first
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
    data: WindowData, sampling: WindowSampling, *, seed: int, epoch: int
) -> Iterator[dict[str, torch.Tensor]]:
    """The batches of random crops of random training windows, flipped at random, of an epoch: the windows of
    :func:`training_plan` in its order (chunk-grouped when ``data`` is read through a cache). A pure function
    of (seed, epoch): the engine replays an epoch's order on resume.
    """
    return plan_batches(data, training_plan(data, sampling, seed=seed, epoch=epoch), sampling)


def plan_batches(data: WindowData, plan: np.ndarray, sampling: WindowSampling) -> Iterator[dict[str, torch.Tensor]]:
    """The batches of ``sampling.batch_size`` windows of a :func:`training_plan` (in its order), flipped as it
    says: x [N, V, C, T + context, crop, crop], target / valid / normal [N, crop, crop]."""
    _, _, _, h, w = data.shape
    ch, cw = sampling.crop_shape(h, w)
    for batch in plan.reshape(-1, sampling.batch_size, 5):
        windows = []
        for t, y0, x0, flip_y, flip_x in batch.tolist():
            window = data.window(t, slice(y0, y0 + ch), slice(x0, x0 + cw), sampling.context)
            windows.append(flipped(window, bool(flip_y), bool(flip_x)))
        yield stack_windows(windows)


def tile_slices(size: int, tile: int) -> list[slice]:
    """Slices covering [0, size) with tiles of at most ``tile`` (0 = whole)."""
    if tile <= 0 or tile >= size:
        return [slice(0, size)]
    return [slice(s, min(s + tile, size)) for s in range(0, size, tile)]


def evenly_spaced(values: np.ndarray, count: int) -> np.ndarray:
    """At most ``count`` evenly spaced elements of ``values`` (all if count <= 0)."""
    if count <= 0 or len(values) <= count:
        return values
    return values[np.linspace(0, len(values) - 1, count).round().astype(int)]
