"""Synthetic benchmark of extremes with known drivers (the IDE paper's "synthetic multivariate anomalies").

A weekly cube ``data[variable, time, y, x]`` (float32) is built from

- a base signal per variable (seasonal sine with a random phase, constant, or seasonal plus a linear trend),
  with smooth spatial variations of offset and amplitude;
- noise per variable: white (Gaussian), Laplace, Cauchy or red (AR(1) in time), scale ``sigma``;
- extremes: the union of random events, each an intensity field I(t, y, x) in (0, 1] of one shape:
  ``cube``, ``gaussian`` (3-D Gaussian cut at 2 sigma), ``random_walk`` (a disk whose centre wanders week by
  week), ``onset`` (a disk that grows) or ``local`` (a few pixels for one or two weeks);
  ``extreme = I > 0``; ``ring``: the weeks before and after the core where drivers may lie (the extremes
  dilated in time by -``lag_weeks`` .. +``lead_weeks``, minus the core: the reference's two extra classes), so
  that the driver loss does not pull true drivers to "normal";
- drivers: each coupled variable v has one contiguous window of offsets [a_v, b_v] within
  [-``lead_weeks``, +``lag_weeks``] (the coupling matrix [V, lead + lag + 1]); its driver intensity
  at week w is D_v(w) = max over o in [a_v, b_v] of I(w + o), i.e. anomalies from up to ``lead_weeks`` weeks
  before to ``lag_weeks`` weeks after each extreme; ``driver = D_v > 0``; uncoupled variables have no drivers;
- distractors: random events of the same shapes per variable, independent of the extremes (not drivers).

Inside an anomaly of intensity E (driver or distractor) the value is

    x = B + N 2^(kn E) + s_v (|B| (2^(kb E) - 1) + ks sigma E)

with B the base, N the noise, s_v in {-1, +1} the variable's sign and kb, kn, ks per variable: the
reference's B (2^(kb E) - 1) + N 2^(kn E) + ks sigma E, signed per variable.

Streaming and reproducible: event parameters are drawn first (a few numbers each); the cube is written
``chunk_weeks`` at a time, each chunk's noise drawn from a generator keyed by (seed, chunk), events
rasterised on their bounding boxes only; memory is O(V x chunk_weeks x H x W) float32 whatever the length.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from terraflux.errors import ConfigError
from terraflux.outputs import jsonable

import numpy as np

SHAPES = ("cube", "gaussian", "random_walk", "onset", "local")
NOISES = ("white", "laplace", "cauchy", "red")
BASES = ("seasonal", "constant", "trend")
WEEKS_PER_YEAR = 52


@dataclass(frozen=True)
class BenchmarkConfig:
    """Size and statistics of the benchmark: config ``ide.benchmark`` (:meth:`from_dict`) and a seed.

    The paper's benchmark is 200 x 200 pixels x 2392 weeks (Shams Eddin & Gall, NeurIPS 2024).
    """

    variables: tuple[str, ...]
    uncoupled: int
    height: int
    width: int
    weeks: int
    train_fraction: float
    val_fraction: float
    events_per_year: float
    distractors_per_year: float
    event_radius: tuple[int, int]
    event_weeks: tuple[int, int]
    lead_weeks: int
    lag_weeks: int
    driver_window: tuple[int, int]
    noise_sigma: tuple[float, float]
    kb: tuple[float, float]
    kn: tuple[float, float]
    ks: tuple[float, float]
    red_phi: float
    chunk_weeks: int
    seed: int
    shapes: tuple[str, ...]

    def __post_init__(self) -> None:
        if not 0 <= self.uncoupled < len(self.variables):
            raise ConfigError(
                f"ide.benchmark.uncoupled must be in [0, {len(self.variables) - 1}], got {self.uncoupled}"
            )
        if self.train_fraction + self.val_fraction >= 1:
            raise ConfigError(
                "ide.benchmark.train_fraction + val_fraction must be below 1 (the rest is the test split)"
            )
        unknown = set(self.shapes) - set(SHAPES)
        if unknown:
            raise ConfigError(f"ide.benchmark.shapes: unknown {sorted(unknown)}; allowed {', '.join(SHAPES)}")
        low, high = self.driver_window
        if not 1 <= low <= high <= self.lead_weeks + self.lag_weeks + 1:
            raise ConfigError(
                f"ide.benchmark.driver_window {self.driver_window} must satisfy "
                "1 <= min <= max <= lead_weeks + lag_weeks + 1"
            )

    @classmethod
    def from_dict(cls, params: dict, seed: int) -> BenchmarkConfig:
        """From the config subtree ``ide.benchmark`` (lists become tuples) and a derived seed."""
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
        return cls(**values, seed=seed)

    def split_bounds(self) -> tuple[int, int]:
        """(first val week, first test week)."""
        train_end = int(round(self.train_fraction * self.weeks))
        val_end = int(round((self.train_fraction + self.val_fraction) * self.weeks))
        return train_end, val_end


@dataclass(frozen=True)
class Event:
    """An event's parameters; :meth:`intensity` rasterises it over a span of weeks."""

    shape: str
    t0: int
    weeks: int
    cy: float
    cx: float
    radius: float
    amplitude: float
    path: tuple[tuple[float, float], ...] = ()  # random-walk centres per week

    def span(self) -> tuple[int, int]:
        return self.t0, self.t0 + self.weeks

    def paint(self, out: np.ndarray, start: int) -> None:
        """Max-combine the event's intensity into ``out`` [weeks, H, W] covering weeks start .. start+len."""
        n, h, w = out.shape
        t_lo, t_hi = max(self.t0, start), min(self.t0 + self.weeks, start + n)
        if t_lo >= t_hi:
            return
        reach = self.radius * (2.5 if self.shape == "random_walk" else 1.0) + 1
        centres = self.path or ((self.cy, self.cx),)
        ys = [c[0] for c in centres]
        xs = [c[1] for c in centres]
        y0, y1 = max(0, int(min(ys) - reach)), min(h, int(max(ys) + reach) + 1)
        x0, x1 = max(0, int(min(xs) - reach)), min(w, int(max(xs) + reach) + 1)
        if y0 >= y1 or x0 >= x1:
            return
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        for t in range(t_lo, t_hi):
            k = t - self.t0
            if self.shape in ("cube", "local"):
                field_ = (
                    (np.abs(yy - self.cy) <= self.radius) & (np.abs(xx - self.cx) <= self.radius)
                ) * self.amplitude
            elif self.shape == "gaussian":
                tc = (self.weeks - 1) / 2
                st = max(self.weeks / 4, 0.5)
                r2 = ((yy - self.cy) ** 2 + (xx - self.cx) ** 2) / (self.radius / 2) ** 2 + ((k - tc) / st) ** 2
                field_ = np.where(r2 <= 4.0, self.amplitude * np.exp(-r2 / 2), 0.0)
            elif self.shape == "random_walk":
                cy, cx = self.path[k]
                field_ = (((yy - cy) ** 2 + (xx - cx) ** 2) <= self.radius**2) * self.amplitude
            else:  # onset: a disk growing from a third of its radius to the full radius
                grow = (1 + 2 * k / max(self.weeks - 1, 1)) / 3
                field_ = (((yy - self.cy) ** 2 + (xx - self.cx) ** 2) <= (self.radius * grow) ** 2) * self.amplitude
            view = out[t - start, y0:y1, x0:x1]
            np.maximum(view, field_.astype(np.float32), out=view)


def _draw_events(rng: np.random.Generator, cfg: BenchmarkConfig, rate_per_year: float) -> list[Event]:
    count = rng.poisson(rate_per_year * cfg.weeks / WEEKS_PER_YEAR)
    events = []
    for _ in range(count):
        shape = str(rng.choice(cfg.shapes))
        if shape == "local":
            weeks, radius = int(rng.integers(1, 3)), float(rng.integers(0, 2))
        else:
            weeks = int(rng.integers(cfg.event_weeks[0], cfg.event_weeks[1] + 1))
            radius = float(rng.uniform(*cfg.event_radius))
        t0 = int(rng.integers(0, cfg.weeks - weeks + 1))
        cy, cx = float(rng.uniform(0, cfg.height)), float(rng.uniform(0, cfg.width))
        path: tuple = ()
        if shape == "random_walk":
            steps = rng.normal(0, radius / 3, size=(weeks, 2))
            steps[0] = 0
            path = tuple(map(tuple, (np.cumsum(steps, axis=0) + [cy, cx]).tolist()))
        events.append(Event(shape, t0, weeks, cy, cx, radius, float(rng.uniform(0.6, 1.0)), path))
    return events


def _smooth_field(rng: np.random.Generator, h: int, w: int, waves: int = 4) -> np.ndarray:
    """A smooth random field of unit scale [H, W] (sum of a few random plane cosines)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.zeros((h, w), np.float32)
    for _ in range(waves):
        ky, kx = rng.uniform(-2 * np.pi / 32, 2 * np.pi / 32, size=2)
        out += np.cos(ky * yy + kx * xx + rng.uniform(0, 2 * np.pi)).astype(np.float32)
    return out / math.sqrt(waves / 2)


@dataclass
class Design:
    """Everything drawn before streaming: per-variable signal parameters, coupling, events."""

    cfg: BenchmarkConfig
    base_kind: list[str]
    offset: np.ndarray  # [V, H, W]
    amplitude: np.ndarray  # [V, H, W]
    phase: np.ndarray  # [V]
    slope: np.ndarray  # [V] per week
    noise_kind: list[str]
    sigma: np.ndarray  # [V]
    sign: np.ndarray  # [V]
    kb: np.ndarray
    kn: np.ndarray
    ks: np.ndarray
    coupled: np.ndarray  # [V] bool
    coupling: np.ndarray  # [V, lead + lag + 1] bool: offsets -lead .. +lag
    extremes: list[Event]
    distractors: list[list[Event]]

    def offsets(self, v: int) -> np.ndarray:
        """Offsets o (weeks, driver week minus extreme week) of variable v's coupling window."""
        return np.flatnonzero(self.coupling[v]) - self.cfg.lead_weeks

    def describe(self) -> dict:
        return {
            "variables": list(self.cfg.variables),
            "base": self.base_kind,
            "noise": self.noise_kind,
            "sigma": self.sigma.round(4).tolist(),
            "sign": self.sign.tolist(),
            "kb": self.kb.round(4).tolist(),
            "kn": self.kn.round(4).tolist(),
            "ks": self.ks.round(4).tolist(),
            "coupled": self.coupled.tolist(),
            "coupling_offsets": {
                name: self.offsets(v).tolist() for v, name in enumerate(self.cfg.variables) if self.coupled[v]
            },
            "extreme_events": len(self.extremes),
            "distractor_events": [len(d) for d in self.distractors],
        }


def design(cfg: BenchmarkConfig) -> Design:
    """Draw the benchmark's parameters and events (small; deterministic from ``cfg.seed``)."""
    rng = np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(0,)))
    nv, h, w = len(cfg.variables), cfg.height, cfg.width
    base_kind = [str(rng.choice(BASES)) for _ in range(nv)]
    noise_kind = [NOISES[i] for i in rng.permutation(np.arange(nv) % len(NOISES))]
    offset = np.stack([rng.uniform(1, 3) + 0.5 * _smooth_field(rng, h, w) for _ in range(nv)]).astype(np.float32)
    amplitude = np.stack([rng.uniform(0.5, 2) * (1 + 0.3 * _smooth_field(rng, h, w)) for _ in range(nv)]).astype(
        np.float32
    )
    sigma = rng.uniform(*cfg.noise_sigma, size=nv)
    slope = rng.choice([-1, 1], size=nv) * 0.5 * sigma / cfg.weeks
    coupled = np.ones(nv, bool)
    coupled[rng.choice(nv, size=cfg.uncoupled, replace=False)] = False
    span = cfg.lead_weeks + cfg.lag_weeks + 1
    coupling = np.zeros((nv, span), bool)
    for v in np.flatnonzero(coupled):
        length = int(rng.integers(cfg.driver_window[0], cfg.driver_window[1] + 1))
        start = int(rng.integers(0, span - length + 1))
        coupling[v, start : start + length] = True
    extremes = _draw_events(rng, cfg, cfg.events_per_year)
    distractors = [_draw_events(rng, cfg, cfg.distractors_per_year) for _ in range(nv)]
    return Design(
        cfg=cfg,
        base_kind=base_kind,
        offset=offset,
        amplitude=amplitude,
        phase=rng.uniform(0, 2 * np.pi, size=nv),
        slope=slope,
        noise_kind=noise_kind,
        sigma=sigma,
        sign=rng.choice([-1, 1], size=nv),
        kb=rng.uniform(*cfg.kb, size=nv),
        kn=rng.uniform(*cfg.kn, size=nv),
        ks=rng.uniform(*cfg.ks, size=nv),
        coupled=coupled,
        coupling=coupling,
        extremes=extremes,
        distractors=distractors,
    )


def _paint(events: list[Event], start: int, stop: int, shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros((max(stop - start, 0),) + shape, np.float32)
    for event in events:
        lo, hi = event.span()
        if hi > start and lo < stop:
            event.paint(out, start)
    return out


@dataclass
class Chunk:
    """One streamed block of weeks [start, stop)."""

    start: int
    stop: int
    data: np.ndarray  # [V, t, H, W] float32
    extreme: np.ndarray  # [t, H, W] bool
    ring: np.ndarray  # [t, H, W] bool
    driver: np.ndarray  # [V, t, H, W] bool
    distractor: np.ndarray  # [V, t, H, W] bool


def generate(d: Design) -> Iterator[Chunk]:
    """Stream the benchmark ``chunk_weeks`` weeks at a time (sequentially: red noise carries its state)."""
    cfg = d.cfg
    nv, h, w = len(cfg.variables), cfg.height, cfg.width
    red_state = np.zeros((nv, h, w), np.float32)
    lag, lead = cfg.lag_weeks, cfg.lead_weeks
    for index, start in enumerate(range(0, cfg.weeks, cfg.chunk_weeks)):
        stop = min(start + cfg.chunk_weeks, cfg.weeks)
        n = stop - start
        rng = np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(1, index)))
        # Extreme intensity over the weeks a driver in this chunk can come from: extreme week = t - o with
        # o in [-lead, lag], so weeks start - lag .. stop + lead (index i is week start - lag + i).
        ext = _paint(d.extremes, start - lag, stop + lead, (h, w))
        weeks = np.arange(start, stop, dtype=np.float32)
        data = np.empty((nv, n, h, w), np.float32)
        driver = np.zeros((nv, n, h, w), bool)
        distractor = np.zeros((nv, n, h, w), bool)
        for v in range(nv):
            season = np.sin(2 * np.pi * weeks / WEEKS_PER_YEAR + d.phase[v]).astype(np.float32)
            base = np.broadcast_to(d.offset[v], (n, h, w)).copy()
            if d.base_kind[v] in ("seasonal", "trend"):
                base += season[:, None, None] * d.amplitude[v]
            if d.base_kind[v] == "trend":
                base += (d.slope[v] * weeks).astype(np.float32)[:, None, None]
            kind, sigma = d.noise_kind[v], np.float32(d.sigma[v])
            if kind == "white":
                noise = rng.standard_normal((n, h, w), dtype=np.float32) * sigma
            elif kind == "laplace":
                noise = rng.laplace(0.0, sigma / math.sqrt(2), (n, h, w)).astype(np.float32)
            elif kind == "cauchy":
                noise = (rng.standard_cauchy((n, h, w)) * (sigma / 2)).astype(np.float32)
            else:
                phi = np.float32(cfg.red_phi)
                eps = (
                    rng.standard_normal((n, h, w), dtype=np.float32) * sigma * np.float32(math.sqrt(1 - cfg.red_phi**2))
                )
                noise = np.empty((n, h, w), np.float32)
                for i in range(n):
                    red_state[v] = phi * red_state[v] + eps[i]
                    noise[i] = red_state[v]
            intensity = np.zeros((n, h, w), np.float32)
            if d.coupled[v]:
                for o in d.offsets(v):
                    lo = lag - o  # driver at week t for the extreme at week t - o
                    np.maximum(intensity, ext[lo : lo + n], out=intensity)
                driver[v] = intensity > 0
            dist = _paint(d.distractors[v], start, stop, (h, w))
            distractor[v] = dist > 0
            np.maximum(intensity, dist, out=intensity)
            scaled_noise = noise * np.exp2(np.float32(d.kn[v]) * intensity)
            shift = d.sign[v] * (
                np.abs(base) * (np.exp2(np.float32(d.kb[v]) * intensity) - 1) + np.float32(d.ks[v]) * sigma * intensity
            )
            data[v] = base + scaled_noise + shift.astype(np.float32)
        extreme = ext[lag : lag + n] > 0
        near = np.zeros((n, h, w), bool)
        for i in range(lag + lead + 1):  # any extreme in weeks t - lag .. t + lead
            near |= ext[i : i + n] > 0
        yield Chunk(start, stop, data, extreme, near & ~extreme, driver, distractor)


def write_benchmark(cfg: BenchmarkConfig, path: str | Path, attrs: dict | None = None) -> Design:
    """Write the benchmark store (zarr 3) at ``path`` (the caller makes it atomic). Returns the design.

    Layout: ``data(variable, time, y, x)`` float32 (unitless), ``extreme(time, y, x)`` bool,
    ``ring(time, y, x)`` bool (weeks around the extremes where drivers may lie),
    ``driver(variable, time, y, x)`` bool (ground truth), ``distractor(variable, time, y, x)`` bool,
    ``coupled(variable)`` bool, ``valid(y, x)`` bool (all true); coordinates ``time`` (week index),
    ``week(time)`` 1..52, ``year(time)``, ``split(time)`` 0/1/2 = train/val/test (CF flags). Chunks: all variables x
    ``chunk_weeks`` x H x W.
    """
    import xarray as xr
    import zarr

    d = design(cfg)
    nv, h, w, nt = len(cfg.variables), cfg.height, cfg.width, cfg.weeks
    train_end, val_end = cfg.split_bounds()
    time = np.arange(nt)
    split = np.where(time < train_end, 0, np.where(time < val_end, 1, 2)).astype(np.int8)
    ct = cfg.chunk_weeks
    template = xr.Dataset(
        {
            "data": (("variable", "time", "y", "x"), _lazy((nv, nt, h, w), np.float32, (nv, ct, h, w))),
            "extreme": (("time", "y", "x"), _lazy((nt, h, w), bool, (ct, h, w))),
            "ring": (("time", "y", "x"), _lazy((nt, h, w), bool, (ct, h, w))),
            "driver": (("variable", "time", "y", "x"), _lazy((nv, nt, h, w), bool, (nv, ct, h, w))),
            "distractor": (("variable", "time", "y", "x"), _lazy((nv, nt, h, w), bool, (nv, ct, h, w))),
            "coupled": (("variable",), d.coupled),
            "valid": (("y", "x"), np.ones((h, w), bool)),
        },
        coords={
            "variable": np.array(cfg.variables, dtype=object),
            "time": time,
            "week": ("time", time % WEEKS_PER_YEAR + 1),
            "year": ("time", time // WEEKS_PER_YEAR),
            "split": ("time", split, {"flag_values": [0, 1, 2], "flag_meanings": "train val test"}),
            "y": np.arange(h),
            "x": np.arange(w),
        },
        attrs={
            "title": "IDE synthetic benchmark: extremes with known drivers",
            "benchmark_config": jsonable(asdict(cfg)),
            "design": d.describe(),
            **(attrs or {}),
        },
    )
    template["data"].attrs.update(units="1", long_name="synthetic variable (base + noise + anomalies)")
    template["driver"].attrs.update(long_name="ground-truth driver anomalies")
    template.to_zarr(path, mode="w", compute=False, zarr_format=3, consolidated=False)
    group = zarr.open_group(path, mode="r+")
    for chunk in generate(d):
        sl = slice(chunk.start, chunk.stop)
        group["data"][:, sl] = chunk.data
        group["extreme"][sl] = chunk.extreme
        group["ring"][sl] = chunk.ring
        group["driver"][:, sl] = chunk.driver
        group["distractor"][:, sl] = chunk.distractor
    return d


def _lazy(shape, dtype, chunks):
    import dask.array as da

    return da.zeros(shape, dtype=dtype, chunks=chunks)
