"""The land surface: sea, elevation, plant-functional-type composition, forest age, the 300 m map.

PFT groups (the carbon-flux models' three groups plus the rest): ``BL`` broadleaf trees, ``NL``
needleleaf trees, ``GS`` grass, shrubs and crops, ``other`` bare, urban, snow/ice and water.

The world's land cover is a 1/360 deg class map (ESA-CCI LCCS classes), drawn per year from target
fractions on the 0.1 deg cells: inside each cell the pixels are ranked by a smooth noise field (the
same every year, so patches persist) and filled group by group. The TRUE PFT composition of a cell is
the share of its land (non-water) pixels in each group; a cell is land when less than half of its
pixels are sea. Target fractions follow elevation zones (BL low, NL montane, GS and
``other`` high), some cells are pure (one group >= 90 %), the rest mixed; they drift slowly by year,
and a few forest cells are disturbed (cleared to GS in a given year, forest age reset).
"""

from __future__ import annotations

from terraflux.sources.land_cover import CLASS_WATER
from terraflux.synthetic.grids import LC_PER_ERA_CELL, LatLonGrid

import numpy as np
from scipy.ndimage import gaussian_filter

PFTS = ("BL", "NL", "GS", "other")

# LCCS classes used by the synthetic map, per group (see the flag_values of the real files).
GROUP_OF_CLASS = {
    10: "GS",
    11: "GS",
    12: "GS",
    20: "GS",
    30: "GS",
    40: "GS",
    50: "BL",
    60: "BL",
    61: "BL",
    62: "BL",
    70: "NL",
    71: "NL",
    72: "NL",
    80: "NL",
    81: "NL",
    82: "NL",
    90: "BL",
    100: "GS",
    110: "GS",
    120: "GS",
    121: "GS",
    122: "GS",
    130: "GS",
    140: "GS",
    150: "GS",
    151: "GS",
    152: "GS",
    153: "GS",
    160: "BL",
    170: "BL",
    180: "GS",
    190: "other",
    200: "other",
    201: "other",
    202: "other",
    210: "other",
    220: "other",
    0: "other",
}


def elevation(world, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Surface elevation, m (continuous: the same at every grid's points). Higher to the south
    (an Alpine range), relief from two smooth fields, low near the sea."""
    spec = world.spec
    span = max(spec.region.north - spec.region.south, 0.5)
    ridge = 1.0 / (1.0 + np.exp(-(spec.region.mid_lat - np.asarray(lat)) * 4.0 / span))
    z = (
        450.0
        + 2400.0 * ridge
        + 500.0 * world.field("elev_large")(lat, lon)
        + 250.0 * world.field("elev_small")(lat, lon)
    )
    coast = np.clip((sea_score(world, lat, lon) - world.scalars["sea_threshold"]) / 0.4, 0.0, 1.0)
    return np.maximum(z, 150.0) * coast + 2.0


def sea_score(world, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Sea where this score is below ``world.scalars['sea_threshold']`` (low towards the south-west)."""
    r = world.spec.region
    ty = (np.asarray(lat) - r.south) / max(r.north - r.south, 1e-6)
    tx = (np.asarray(lon) - r.west) / max(r.east - r.west, 1e-6)
    return 1.6 * (ty + tx) + 0.5 * world.field("coast")(lat, lon)


def target_fractions(world, year: int) -> np.ndarray:
    """Target group fractions [4, ny, nx] on the ERA5-Land cells for ``year`` (sum 1)."""
    a = world.arrays
    logits = a["pft_logit"] + a["pft_drift"] * (year - world.spec.years[0])
    tau = np.where(a["pure"], 0.08, 0.9)
    w = np.exp((logits - logits.max(axis=0)) / tau)
    frac = w / w.sum(axis=0)
    disturbed = (a["disturbance_year"] > 0) & (a["disturbance_year"] <= year)
    cleared = 0.7 * (frac[0] + frac[1]) * disturbed
    frac[0] *= np.where(disturbed, 0.3, 1.0)
    frac[1] *= np.where(disturbed, 0.3, 1.0)
    frac[2] += cleared
    return frac


def forest_age(world, year: int) -> np.ndarray:
    """Mean forest age of each cell in ``year``, years [ny, nx] (reset at a disturbance)."""
    a = world.arrays
    age = a["forest_age0"] + (year - world.spec.years[0])
    dist = a["disturbance_year"]
    return np.where((dist > 0) & (dist <= year), year - dist, age).astype(np.float32)


def fine_classes(world, year: int) -> np.ndarray:
    """The 1/360 deg LCCS class map (uint8 [ny*36, nx*36]) covering the ERA5-Land cells."""
    era: LatLonGrid = world.era5_grid
    fine = world.fine_grid
    ny, nx = era.shape
    k = LC_PER_ERA_CELL
    frac = target_fractions(world, year)
    cum = np.cumsum(frac, axis=0)  # [4, ny, nx]
    u = world.fine_rank("group")  # [ny*k, nx*k] in [0, 1)
    v = world.fine_rank("subclass")
    cum_px = np.repeat(np.repeat(cum, k, axis=1), k, axis=2)
    group = (u[None] >= cum_px[:3]).sum(axis=0)  # 0..3
    flat, flon = fine.mesh()
    elev_cell = np.repeat(np.repeat(world.arrays["elevation"], k, axis=0), k, axis=1)
    classes = np.empty(group.shape, dtype=np.uint8)
    classes[group == 0] = np.where(v[group == 0] < 0.8, 60, 61)
    classes[group == 1] = np.where(v[group == 1] < 0.7, 70, 71)
    gs = group == 2
    classes[gs] = np.where(elev_cell[gs] < 900, np.where(v[gs] < 0.5, 10, 130), np.where(v[gs] < 0.75, 130, 120))
    oth = group == 3
    classes[oth] = np.where(elev_cell[oth] > 2600, 220, np.where(elev_cell[oth] > 1800, 200, 190))
    sea = sea_score(world, flat, flon) < world.scalars["sea_threshold"]
    classes[sea] = CLASS_WATER
    return classes


def group_fractions(world, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True composition from a class map: (fractions float32 [4, ny, nx], land_mask bool [ny, nx]).

    Fractions are shares of the cell's land (non-water) pixels, as the prepared ESA-CCI fractions are
    shares of the land area; a cell without land pixels is all ``other``. A cell is land when less than
    half of its pixels are water.
    """
    ny, nx = world.era5_grid.shape
    k = LC_PER_ERA_CELL
    lut = np.full(256, 3, dtype=np.int8)
    for cls, grp in GROUP_OF_CLASS.items():
        lut[cls] = PFTS.index(grp)
    water = (classes == CLASS_WATER).reshape(ny, k, nx, k)
    groups = lut[classes].reshape(ny, k, nx, k)
    land_pixels = (~water).sum(axis=(1, 3))
    counts = np.stack([((groups == g) & ~water).sum(axis=(1, 3)) for g in range(4)]).astype(np.float64)
    frac = np.where(land_pixels > 0, counts / np.maximum(land_pixels, 1), np.array([0, 0, 0, 1.0])[:, None, None])
    return frac.astype(np.float32), water.mean(axis=(1, 3)) < 0.5


def draw_land(world, rng: np.random.Generator) -> None:
    """Draw the land-surface arrays of a new world into ``world.arrays`` / ``world.scalars``."""
    spec, era = world.spec, world.era5_grid
    lat, lon = era.mesh()
    score = sea_score(world, lat, lon)
    world.scalars["sea_threshold"] = (
        float(np.quantile(score, spec.knobs["sea_fraction"])) if spec.knobs["sea_fraction"] > 0 else -1e9
    )
    elev = elevation(world, lat, lon)
    world.arrays["elevation"] = elev.astype(np.float32)
    z = (elev - 1200.0) / 600.0
    logits = np.stack(
        [
            0.6 - 1.8 * z + 1.0 * world.field("pft_bl")(lat, lon),
            1.0 - 0.8 * (z - 0.8) ** 2 + 1.0 * world.field("pft_nl")(lat, lon),
            0.5 + 1.5 * np.maximum(z - 1.4, 0) + 0.5 * np.maximum(-z, 0) + 1.0 * world.field("pft_gs")(lat, lon),
            -1.8 + 3.0 * np.maximum(z - 2.0, 0) + 0.5 * world.field("pft_other")(lat, lon),
        ]
    )
    world.arrays["pft_logit"] = logits
    world.arrays["pft_drift"] = 0.04 * np.stack([world.field(f"drift_{p}")(lat, lon) for p in PFTS])
    purity = world.field("purity")(lat, lon) + 0.3 * rng.normal(size=lat.shape)
    land = score >= world.scalars["sea_threshold"]
    thr = np.quantile(purity[land], 1.0 - spec.knobs["pure_fraction"]) if land.any() else np.inf
    world.arrays["pure"] = purity >= thr
    world.arrays["forest_age0"] = (10.0 + 140.0 / (1.0 + np.exp(-1.5 * world.field("age")(lat, lon)))).round()
    dist = np.zeros(lat.shape, dtype=np.int32)
    if len(spec.years) > 1:
        n = max(1, int(round(0.02 * land.sum())))
        cells = rng.choice(np.flatnonzero(land.ravel()), size=min(n, int(land.sum())), replace=False)
        dist.ravel()[cells] = rng.integers(spec.years[1], spec.years[-1] + 1, size=cells.size)
    world.arrays["disturbance_year"] = dist


def fine_noise_rank(world, name: str) -> np.ndarray:
    """Smooth pixel noise ranked within each 0.1 deg cell: uniform in [0, 1) per cell, [ny*36, nx*36]."""
    from terraflux.synthetic.fields import stage_rng

    ny, nx = world.era5_grid.shape
    k = LC_PER_ERA_CELL
    rng = stage_rng(world.spec.seed, "land", "fine", name)
    noise = gaussian_filter(rng.normal(size=(ny * k, nx * k)).astype(np.float32), sigma=4.0, mode="wrap")
    blocks = noise.reshape(ny, k, nx, k).transpose(0, 2, 1, 3).reshape(ny, nx, k * k)
    ranks = blocks.argsort(axis=-1, kind="stable").argsort(axis=-1, kind="stable")
    u = (ranks + 0.5) / (k * k)
    return u.reshape(ny, nx, k, k).transpose(0, 2, 1, 3).reshape(ny * k, nx * k).astype(np.float32)
