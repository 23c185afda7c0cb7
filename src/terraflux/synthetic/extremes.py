"""Extreme events, their driver anomalies and distractors (the vegetation-health index: :mod:`.vhp`).

Weeks follow the extremes model's convention: week of year = min((doy - 1) // 7 + 1, 52) (days
365/366 fold into week 52); the global week index counts 52 weeks per year from the first year.

- An *event* is an ellipse on the map (centre, semi-axes, rotation) over a run of growing-season
  weeks; inside it, on land, the VHI is below 26 (an extreme drought) and only there. The events are
  spread evenly over the years (:func:`event_years`), so that every split of whole years (training,
  validation, test: concepts.md) holds events in proportion to its weeks.
- For every *coupled* variable (``synthetic.coupled_variables``) each event has a *driver* window: the
  event's footprint enlarged by 1.25, from ``lead`` weeks before the event to ``lag`` weeks after it
  (drawn per event and variable up to ``max_lead_weeks`` / ``max_lag_weeks``), where that variable gets
  an anomaly of ``anomaly_strength`` in the drought direction (warmer, drier, ...).
- *Distractors*: anomalies in random variables (coupled or not) at random places and weeks, away from
  the event windows of that variable, that cause nothing.
The truth keeps the event mask, the driver masks, the distractor masks and which variables are coupled.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

WEEKS = 52
DRIVER_SCALE = 1.25
# Distractor directions that keep the dewpoint below the air temperature (each gets its own anomalies).
ONE_SIDED = {"t2m": 1, "d2m": -1}
# Direction of each variable's anomaly during a drought (used for drivers; distractors draw a sign).
DROUGHT_SIGN = {
    "t2m": 1,
    "d2m": -1,
    "skt": 1,
    "sp": 1,
    "stl1": 1,
    "stl2": 1,
    "stl3": 1,
    "stl4": 1,
    "u10": 1,
    "v10": 1,
    "fal": 1,
    "swvl1": -1,
    "swvl2": -1,
    "swvl3": -1,
    "swvl4": -1,
    "tp": -1,
    "ro": -1,
    "sd": -1,
    "ssrd": 1,
    "ssr": 1,
    "strd": -1,
    "str": -1,
    "slhf": -1,
    "sshf": 1,
    "e": -1,
    "pev": 1,
    "lai_hv": -1,
    "lai_lv": -1,
}


def week_of_year(doy: np.ndarray) -> np.ndarray:
    return np.minimum((np.asarray(doy) - 1) // 7 + 1, WEEKS)


def week_start(year: int, week: int) -> dt.date:
    return dt.date(year, 1, 1) + dt.timedelta(days=7 * (week - 1))


def hour_weeks(world, hours: np.ndarray) -> np.ndarray:
    """Global week index of each valid hour (int64 hours since 1970)."""
    stamps = pd.to_datetime(np.asarray(hours, dtype=np.int64), unit="h")
    return (stamps.year.values - world.spec.years[0]) * WEEKS + week_of_year(stamps.day_of_year.values) - 1


def _ellipse_d2(rec: dict, lat: np.ndarray, lon: np.ndarray, coslat: float, scale: float = 1.0) -> np.ndarray:
    dy = np.asarray(lat) - rec["lat"]
    dx = (np.asarray(lon) - rec["lon"]) * coslat
    c, s = np.cos(rec["angle"]), np.sin(rec["angle"])
    u, v = c * dy + s * dx, -s * dy + c * dx
    return (u / (rec["a"] * scale)) ** 2 + (v / (rec["b"] * scale)) ** 2


def event_years(n_events: int, n_years: int, rng: np.random.Generator) -> np.ndarray:
    """The year index of each of ``n_events`` events: every year gets n_events // n_years of them, and the
    n_events % n_years left over go to as many different years drawn at random; in random order."""
    years = np.repeat(np.arange(n_years), n_events // n_years)
    extra = rng.choice(n_years, size=n_events % n_years, replace=False)
    return rng.permutation(np.concatenate([years, extra]).astype(int))


def draw_extremes(world, rng: np.random.Generator) -> None:
    """Events, drivers and distractors into ``world.tables``."""
    spec, knobs = world.spec, world.spec.knobs
    grid = world.era5_grid
    lat, lon = grid.mesh()
    land = np.flatnonzero(world.land_mask.ravel())
    nyears = len(spec.years)
    n_weeks = WEEKS * nyears
    coupled = list(knobs["coupled_variables"])
    events, drivers, distractors = [], [], []
    for k, year_idx in enumerate(event_years(int(knobs["n_extreme_events"]), nyears, rng)):
        if land.size == 0:
            break
        cell = rng.choice(land)
        length = int(rng.integers(2, 6))
        start = int(year_idx) * WEEKS + int(rng.integers(18, 40 - length))
        ev = {
            "id": k,
            "lat": float(lat.ravel()[cell] + rng.uniform(-0.05, 0.05)),
            "lon": float(lon.ravel()[cell] + rng.uniform(-0.05, 0.05)),
            "a": float(rng.uniform(0.2, 0.5)),
            "b": float(rng.uniform(0.25, 0.6)),
            "angle": float(rng.uniform(0, np.pi)),
            "start": start,
            "end": start + length - 1,
            "severity": float(rng.uniform(0.5, 1.0)),
        }
        events.append(ev)
        for var in coupled:
            lead = int(rng.integers(0, knobs["max_lead_weeks"] + 1))
            lag = int(rng.integers(0, knobs["max_lag_weeks"] + 1))
            drivers.append(
                {"event": k, "variable": var, "start": max(0, start - lead), "end": min(n_weeks - 1, ev["end"] + lag)}
            )
    for year_idx in range(nyears):
        for _ in range(int(knobs["distractors_per_year"])):
            for _attempt in range(30):
                var = str(rng.choice(list(spec.variables)))
                length = int(rng.integers(1, 5))
                start = year_idx * WEEKS + int(rng.integers(0, WEEKS - length))
                cell = rng.choice(land) if land.size else 0
                rec = {
                    "variable": var,
                    "lat": float(lat.ravel()[cell]),
                    "lon": float(lon.ravel()[cell]),
                    "a": float(rng.uniform(0.15, 0.4)),
                    "b": float(rng.uniform(0.2, 0.5)),
                    "angle": float(rng.uniform(0, np.pi)),
                    "start": start,
                    "end": start + length - 1,
                    "sign": int(rng.choice([-1, 1])),
                }
                if var in ONE_SIDED:  # a cooler 2 m air or a moister dewpoint could cross (dewpoint > temperature)
                    rec["sign"] = ONE_SIDED[var]
                if not _overlaps(rec, events, drivers, world.coslat):
                    distractors.append(rec)
                    break
    world.tables.update(events=events, drivers=drivers, distractors=distractors)


def _overlaps(rec: dict, events: list[dict], drivers: list[dict], coslat: float) -> bool:
    """Does a distractor touch an event (any variable) or a driver window of its variable?"""
    for ev in events:
        windows = [
            (d["start"], d["end"]) for d in drivers if d["event"] == ev["id"] and d["variable"] == rec["variable"]
        ]
        windows.append((ev["start"], ev["end"]))
        near = np.hypot(rec["lat"] - ev["lat"], (rec["lon"] - ev["lon"]) * coslat) < DRIVER_SCALE * max(
            ev["a"], ev["b"]
        ) + max(rec["a"], rec["b"])
        if near and any(rec["start"] <= w1 + 1 and rec["end"] >= w0 - 1 for w0, w1 in windows):
            return True
    return False


def _records(world, variable: str) -> list[tuple[dict, float, float]]:
    """(geometry, sign, footprint scale) of every anomaly of ``variable``, with start/end weeks."""
    events = {ev["id"]: ev for ev in world.tables.get("events", [])}
    out = []
    for d in world.tables.get("drivers", []):
        if d["variable"] == variable:
            geom = dict(events[d["event"]], start=d["start"], end=d["end"])
            out.append((geom, float(DROUGHT_SIGN.get(variable, 1)), DRIVER_SCALE))
    for d in world.tables.get("distractors", []):
        if d["variable"] == variable:
            out.append((d, float(d["sign"]), 1.0))
    return out


def anomaly(world, variable: str, hours: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray | None:
    """Injected anomaly of ``variable`` [T, P] in units of natural variability (None if it has none
    in these weeks). Inside a footprint it tapers from 1 at the centre to 0.6 at the edge."""
    records = _records(world, variable)
    if not records:
        return None
    weeks = hour_weeks(world, hours)
    out = None
    strength = float(world.spec.knobs["anomaly_strength"])
    for geom, sign, scale in records:
        tmask = (weeks >= geom["start"]) & (weeks <= geom["end"])
        if not tmask.any():
            continue
        d2 = _ellipse_d2(geom, lat, lon, world.coslat, scale)
        weight = np.where(d2 < 1.0, 1.0 - 0.4 * d2, 0.0).astype(np.float32) * (strength * sign)
        if not weight.any():
            continue
        if out is None:
            out = np.zeros((len(weeks), np.size(lat)), dtype=np.float32)
        out[tmask] += weight[None, :]
    return out


def masks_for_week(world, gw: int, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(extreme bool, depth float: 1 - d2 of the deepest event, 0 outside) at points for global week ``gw``."""
    ext = np.zeros(np.shape(lat), dtype=bool)
    depth = np.zeros(np.shape(lat), dtype=np.float32)
    for ev in world.tables.get("events", []):
        if ev["start"] <= gw <= ev["end"]:
            d2 = _ellipse_d2(ev, lat, lon, world.coslat)
            inside = d2 < 1.0
            ext |= inside
            depth = np.maximum(depth, np.where(inside, (1.0 - d2) * ev["severity"], 0.0))
    return ext, depth


def truth_masks(
    world,
    variables: list[str],
    lat: np.ndarray | None = None,
    lon: np.ndarray | None = None,
    land: np.ndarray | None = None,
    sources: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, np.ndarray]:
    """Weekly truth at points (default: the ERA5-Land grid): extreme [W, ...], driver / distractor [V, W, ...].

    ``sources`` maps an output variable to the ERA5-Land variables whose anomalies it carries (CERRA's
    r2 carries those of t2m and d2m); by default each variable is its own source.
    """
    if lat is None:
        lat, lon = world.era5_grid.mesh()
        land = world.land_mask
    sources = sources or {v: (v,) for v in variables}
    n_weeks = WEEKS * len(world.spec.years)
    extreme = np.zeros((n_weeks,) + lat.shape, dtype=bool)
    for gw in range(n_weeks):
        extreme[gw] = masks_for_week(world, gw, lat, lon)[0] & land
    driver = np.zeros((len(variables), n_weeks) + lat.shape, dtype=bool)
    distractor = np.zeros_like(driver)
    events = {ev["id"]: ev for ev in world.tables.get("events", [])}
    for k, var in enumerate(variables):
        for d in world.tables.get("drivers", []):
            if d["variable"] in sources[var]:
                inside = (_ellipse_d2(events[d["event"]], lat, lon, world.coslat, DRIVER_SCALE) < 1.0) & land
                driver[k, d["start"] : d["end"] + 1] |= inside
        for d in world.tables.get("distractors", []):
            if d["variable"] in sources[var]:
                inside = (_ellipse_d2(d, lat, lon, world.coslat) < 1.0) & land
                distractor[k, d["start"] : d["end"] + 1] |= inside
    return {"extreme": extreme, "driver": driver, "distractor": distractor}
