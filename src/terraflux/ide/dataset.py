"""The IDE dataset: one store of normalised weekly anomalies, targets and masks per dataset.

Stage ``ide_dataset`` writes ``dataset.zarr`` (zarr 3) from a :class:`Source` (the synthetic benchmark,
:func:`benchmark_source`, or a prepared weekly store with its NOAA VHP targets, :func:`weekly_source`):

- ``inputs(variable, channel, time, y, x)`` float32: (x - weekly per-pixel climatological mean) / weekly
  per-pixel std, climatology from training weeks only, clipped to +-``clip``, NaN/inf -> 0;
- ``extreme(time, y, x)`` bool: the target (benchmark extremes, or the VHP store's ``extreme``, NOAA VHI < 26:
  :mod:`terraflux.prepare.vhp`);
- ``extreme_loose(time, y, x)`` bool: the VHP store's ``extreme_loose`` (VHI < 35; benchmark: the extremes and
  their rings, the weeks around them where drivers may lie); the driver loss applies only at pixels with no
  loose extreme in the window;
- ``valid(time, y, x)`` bool: pixels whose target exists (land, VHI present);
- ``clim_mean``, ``clim_std(variable, channel, week, y, x)``: the climatology used (input units);
- coordinates ``time``, ``week_of_year(time)`` 1..52, ``split(time)`` 0/1/2 = train/val/test (:data:`SPLITS`).

The design follows the IDE paper (Shams Eddin & Gall, "Identifying spatio-temporal drivers of extreme
events", NeurIPS 2024). Reading windows out of the store is :mod:`terraflux.ide.windows`; :func:`truth_drivers`
reads the ground-truth drivers aligned to a dataset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from terraflux.errors import DataError
from terraflux.train.reads import open_group

import numpy as np
from zarr.codecs import BloscCodec

SPLITS = {"train": 0, "val": 1, "test": 2}  # codes of coordinate ``split``
WEEKS = 52  # weeks of a year in the climatology (days 365/366 fold into week 52)
# ``inputs`` chunks: every variable and channel x CHUNK_WEEKS weeks x TILE x TILE pixels, so that a training
# window (T weeks x a crop) decodes a few small chunks; Blosc LZ4 decodes faster than zstd (training decodes
# chunks again and again) at a slightly larger size.
CHUNK_WEEKS = 4
TILE = 32
INPUTS_COMPRESSOR = BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")
READ_WEEKS = 8  # weeks a Source reads at a time while the dataset is written (memory: V x C x 8 x H x W)


def week_of_year(dates) -> np.ndarray:
    """Week of year 1..52 of datetime64 values: min((doy - 1) // 7 + 1, 52) (days 365/366 fold into 52)."""
    doy = np.asarray(dates, dtype="datetime64[D]")
    years = doy.astype("datetime64[Y]")
    day = (doy - years).astype(int) + 1
    return np.minimum((day - 1) // 7 + 1, WEEKS).astype(np.int16)


class Climatology:
    """Weekly per-pixel mean and std accumulated over time blocks of training weeks (float64 sums).

    ``add(block [C, t, H, W], weeks [t])`` then ``finish(pool)`` -> (mean, std) [C, 52, H, W] float32.
    ``pool`` (odd) weeks of year centred on each week, cyclic over the year end, enter its statistics: with
    few training years a single week's samples give a noisy mean and std (with 2 years every training
    anomaly is +-1). A week with fewer than 2 samples, or zero spread, gets std 1 (and mean 0 if unseen).
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

    def finish(self, pool: int = 1) -> tuple[np.ndarray, np.ndarray]:
        if pool < 1 or pool % 2 == 0 or pool > WEEKS:
            raise ValueError(f"climatology pool must be an odd number of weeks in 1..{WEEKS}, got {pool}")
        offsets = range(-(pool // 2), pool // 2 + 1)
        count, s, s2 = (sum(np.roll(a, k, axis=-3) for k in offsets) for a in (self.n, self.s, self.s2))
        n = np.maximum(count, 1)[None]
        mean = s / n
        var = np.maximum(s2 / n - mean**2, 0) * n / np.maximum(n - 1, 1)
        std = np.sqrt(var)
        std = np.where((count[None] >= 2) & (std > 1e-6 * (1 + np.abs(mean))), std, 1.0)
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


def write_dataset(source: Source, path: str | Path, clip: float, attrs: dict, climatology_weeks: int = 1) -> dict:
    """Two passes over ``source``: training-weeks climatology (each week's from ``climatology_weeks`` weeks of
    year centred on it: :class:`Climatology`), then normalised blocks into ``path`` (zarr 3).

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
    for start in range(0, nt, READ_WEEKS):
        stop = min(start + READ_WEEKS, nt)
        train = source.split[start:stop] == SPLITS["train"]
        if train.any():
            block = source.read(start, stop).reshape(nv * nc, stop - start, h, w)
            clim.add(block[:, train], source.week[start:stop][train])
    mean, std = clim.finish(climatology_weeks)
    split_attrs = {"flag_values": [0, 1, 2], "flag_meanings": "train val test"}
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
            "split": ("time", source.split.astype(np.int8), split_attrs),
            **source.coords,
        },
        attrs={"clip": clip, **attrs},
    )
    ds["inputs"].attrs.update(units="1", long_name="anomaly normalised by the training weeks' climatology, clipped")
    encoding = {"inputs": {"compressors": (INPUTS_COMPRESSOR,)}}
    ds.to_zarr(path, mode="w", compute=False, zarr_format=3, consolidated=False, encoding=encoding)
    group = zarr.open_group(path, mode="r+")
    for start in range(0, nt, READ_WEEKS):
        stop = min(start + READ_WEEKS, nt)
        block = source.read(start, stop).reshape(nv * nc, stop - start, h, w)
        norm = normalise(block, source.week[start:stop], mean, std, clip)
        group["inputs"][:, :, start:stop] = norm.reshape(nv, nc, stop - start, h, w)
    fractions = {}
    for name, code in SPLITS.items():
        in_split = source.split == code
        valid = source.valid[in_split]
        fractions[name] = float(source.extreme[in_split][valid].mean()) if valid.any() else None
    return {"shape": {"variable": nv, "channel": nc, "time": nt, "y": h, "x": w}, "extreme_fraction": fractions}


def benchmark_source(path: str | Path) -> Source:
    """The benchmark store (``ide.benchmark``) as a :class:`Source` (1 channel per variable)."""
    group = open_group(path)
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
    )


def weekly_source(
    weekly_path: str | Path,
    vhp_path: str | Path,
    *,
    variables: list[str],
    train_years: list[int],
    val_years: list[int],
    test_years: list[int],
) -> Source:
    """A prepared weekly store (``era5_land_weekly.zarr`` / ``cerra_weekly.zarr``) and its VHP store.

    Per variable the channels ``{v}_mean`` and ``{v}_std``; ``variables`` empty = every variable with both
    (sorted names). Targets from ``vhp_{dataset}.zarr`` (``extreme``, ``extreme_loose``, ``VHI``) on the same
    weekly grid, matched by ``time``; valid = ``land_mask`` and VHI present. Weeks outside the three year
    lists are dropped.
    """
    weekly = open_dataset(weekly_path)
    vhp = open_dataset(vhp_path)
    available = sorted(
        n[: -len("_mean")]
        for n in weekly.data_vars
        if n.endswith("_mean") and not n.endswith("_clim") and f"{n[:-5]}_std" in weekly
    )
    chosen = sorted(variables) if variables else available
    missing = [v for v in chosen if v not in available]
    if missing:
        raise DataError(
            f"{weekly_path}: variables {missing} are not in the store (it has {available}); "
            "fix config key ide.variables"
        )
    if not chosen:
        raise DataError(f"{weekly_path}: no '{{v}}_mean' / '{{v}}_std' variables found; is it a prepared weekly store?")
    for name in ("extreme", "extreme_loose", "VHI"):
        if name not in vhp:
            raise DataError(f"{vhp_path}: variable '{name}' is missing; rerun the stage that prepares the VHP store")
    ydim, xdim = weekly[f"{chosen[0]}_mean"].dims[-2:]
    same_grid = vhp.sizes[ydim] == weekly.sizes[ydim] and vhp.sizes[xdim] == weekly.sizes[xdim]
    if tuple(vhp["VHI"].dims[-2:]) != (ydim, xdim) or not same_grid:
        raise DataError(f"{vhp_path}: VHI grid {dict(vhp['VHI'].sizes)} does not match {weekly_path} ({ydim}, {xdim})")
    times = np.intersect1d(weekly["time"].values, vhp["time"].values)
    years = times.astype("datetime64[Y]").astype(int) + 1970
    split = np.full(len(times), -1, np.int8)
    for name, group in (("train", train_years), ("val", val_years), ("test", test_years)):
        split[np.isin(years, group)] = SPLITS[name]
    keep = split >= 0
    times, split = times[keep], split[keep]
    if len(times) == 0:
        raise DataError(f"{weekly_path} and {vhp_path} share no week in the configured period years")
    weekly = weekly.sel(time=times)
    vhp = vhp.sel(time=times)
    grid = (weekly.sizes[ydim], weekly.sizes[xdim])
    land = np.asarray(weekly["land_mask"].values, bool) if "land_mask" in weekly else np.ones(grid, bool)
    vhi = vhp["VHI"].values
    valid = land[None] & np.isfinite(vhi)
    arrays = [(weekly[f"{v}_mean"], weekly[f"{v}_std"]) for v in chosen]

    def read(start: int, stop: int) -> np.ndarray:
        return np.stack([np.stack([m[start:stop].values, s[start:stop].values]) for m, s in arrays]).astype(np.float32)

    coords = {"y": np.arange(grid[0]), "x": np.arange(grid[1])}
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
    )


def truth_drivers(path: str | Path, dataset: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth drivers for evaluation only: (driver [V, T, H, W] bool, has_truth [V] bool), aligned to
    the variables and weeks of the ``dataset.zarr`` at ``dataset``.

    The benchmark store aligns by construction (``dataset`` not needed). A synthetic world's
    ``truth/extremes*.zarr`` (``driver(variable, time, lat/y, lon/x)``) is matched by variable name and time;
    variables it does not list have no truth (and are left out of the driver metrics).
    """
    group = open_group(path)
    if dataset is None or "ring" in group:
        driver = np.asarray(group["driver"][:])
        return driver, np.ones(driver.shape[0], bool)
    data = open_dataset(dataset)
    variables = [str(v) for v in data["variable"].values]
    time = data["time"].values
    nv, _, nt, h, w = data["inputs"].shape
    ds = open_dataset(path)
    names = [str(v) for v in ds["variable"].values]
    times = np.intersect1d(ds["time"].values, time)
    if len(times) != len(time):
        raise DataError(f"{path}: the truth does not cover the dataset's {len(time)} weeks (only {len(times)})")
    driver = ds["driver"].sel(time=time).values.astype(bool)
    if driver.shape[-2:] != (h, w):
        raise DataError(f"{path}: truth grid {driver.shape[-2:]} differs from the dataset's {(h, w)}")
    out = np.zeros((nv, nt, h, w), bool)
    has = np.array([v in names for v in variables])
    for i, v in enumerate(variables):
        if v in names:
            out[i] = driver[names.index(v)]
    return out, has


def open_dataset(path: str | Path):
    """The zarr store at ``path`` as a lazy ``xarray.Dataset``; a missing or unreadable store is a DataError."""
    import xarray as xr

    if not Path(path).exists():
        raise DataError(f"{path} does not exist: run the stage that writes it first")
    try:
        return xr.open_zarr(path, consolidated=False)
    except Exception as error:
        raise DataError(f"{path} cannot be read as a zarr store ({error}); rerun the stage that writes it") from error
