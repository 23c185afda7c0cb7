"""Spatially separated folds of flux sites and the buffer around held-out sites.

Random site splits put test towers next to training towers, so held-out scores overstate the skill at new
places. Here sites are grouped into spatially coherent folds by a metric-constrained clustering in the spirit
of MC-GTA (Wang et al., ICML 2024, https://arxiv.org/abs/2405.18395): the cost of putting sites i and
j in different folds is low when their driver distributions differ and when they are far apart on the
semivariogram of the drivers,

    d_ij = W2(x_i, x_j) / median(W2) + gamma(h_ij) / sill,

with W2 the 2-Wasserstein distance between the sites' monthly driver values (per feature, summed), h_ij their
great-circle distance and gamma an exponential semivariogram fitted (GSTools) to the time-mean drivers of all
cells. Sites are clustered on d by average-linkage agglomeration into ``n_folds`` folds. The buffer radius is
given, or else the fitted semivariogram's length scale (the distance at which the correlation of the drivers
drops to 1/e) capped so that, in every fold, at least ``min_train_share`` of the sites outside the held-out
folds stay in training (:func:`capped_buffer`): in a region smaller than the range the uncapped buffer would
leave no training site. No training site or cell may lie within the buffer of a held-out site.

k-fold over sites: each fold in turn is the test fold (:func:`fold_splits`), so every site is scored exactly
once, by models that never saw it nor, under spatial folds, any training site or cell inside its buffer.
Random folds (:func:`random_folds`) assign sites to folds at random (seeded) with no buffer.

Shapes: S sites, C cells, T months, F features; distances in km.
"""

from __future__ import annotations

import logging

from terraflux.errors import DataError
from terraflux.evaluate.kriging import _great_circle, fit_residual_variogram

import numpy as np

LOG = logging.getLogger(__name__)


def driver_variogram(lat: np.ndarray, lon: np.ndarray, x: np.ndarray) -> dict:
    """Exponential semivariogram of the cells' time-mean drivers x [C, T, F] (each feature one realisation):
    {"range_km", "sill", "nugget", ...} as :func:`~terraflux.evaluate.kriging.fit_residual_variogram`."""
    _, info = fit_residual_variogram(lat, lon, x.mean(1).T, model="Exponential")
    return info


def wasserstein_distances(x: np.ndarray) -> np.ndarray:
    """Pairwise 2-Wasserstein distances of the sites' empirical driver distributions x [S, T, F], per feature
    (sorted values compared), summed over features: [S, S]."""
    q = np.sort(x, axis=1)  # [S, T, F] quantiles
    diff = q[:, None] - q[None, :]
    return np.sqrt((diff**2).mean(2)).sum(-1)


def site_costs(lat: np.ndarray, lon: np.ndarray, x: np.ndarray, variogram: dict) -> np.ndarray:
    """d_ij of the module docstring, [S, S] (zero diagonal)."""
    w2 = wasserstein_distances(x)
    off = w2[~np.eye(len(w2), dtype=bool)]
    scale = float(np.median(off)) if off.size and np.median(off) > 0 else 1.0
    h = _great_circle(lat, lon, lat, lon)
    sill, nugget = variogram["sill"], variogram["nugget"]
    gamma = nugget + (sill - nugget) * (1 - np.exp(-h / variogram["range_km"]))
    cost = w2 / scale + gamma / sill
    np.fill_diagonal(cost, 0.0)
    return cost


def spatial_folds(lat: np.ndarray, lon: np.ndarray, x: np.ndarray, variogram: dict, n_folds: int) -> np.ndarray:
    """Fold index per site [S] in 0..n_folds-1 (average-linkage clustering of :func:`site_costs`; folds
    numbered by their first site, so the result is a pure function of the inputs)."""
    from sklearn.cluster import AgglomerativeClustering

    if not 2 <= n_folds <= len(lat):
        raise DataError(f"dere.split.folds = {n_folds} needs 2 <= folds <= number of sites ({len(lat)})")
    labels = AgglomerativeClustering(n_clusters=n_folds, metric="precomputed", linkage="average").fit_predict(
        site_costs(lat, lon, x, variogram)
    )
    first = {label: i for i, label in reversed(list(enumerate(labels)))}
    order = {label: k for k, label in enumerate(sorted(first, key=first.get))}
    return np.array([order[label] for label in labels])


def random_folds(n_sites: int, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold index per site [S]: a seeded permutation dealt round-robin, so fold sizes differ by at most one."""
    if not 2 <= n_folds <= n_sites:
        raise DataError(f"dere.split.folds = {n_folds} needs 2 <= folds <= number of sites ({n_sites})")
    fold = np.empty(n_sites, int)
    fold[rng.permutation(n_sites)] = np.arange(n_sites) % n_folds
    return fold


def validation_fold(site_fold: np.ndarray, test_fold: int) -> int:
    """The fold that validates when ``test_fold`` is tested: the smallest other fold (the first of equal ones),
    so that training keeps the most sites."""
    sizes = {f: int((site_fold == f).sum()) for f in range(int(site_fold.max()) + 1) if f != test_fold}
    return min(sizes, key=lambda f: (sizes[f], f))


def capped_buffer(
    site_lat: np.ndarray, site_lon: np.ndarray, site_fold: np.ndarray, radius_km: float, min_train_share: float
) -> float:
    """The largest buffer <= ``radius_km`` that keeps, for every test fold, at least ``ceil(min_train_share * n)``
    of its n candidate training sites (those outside the test and validation folds) farther than the buffer
    from every held-out site. Candidate buffers are 0 and the distances to the nearest held-out site (km)."""
    h = _great_circle(site_lat, site_lon, site_lat, site_lon)
    cap = float(radius_km)
    for test_fold in range(int(site_fold.max()) + 1):
        held = np.isin(site_fold, [test_fold, validation_fold(site_fold, test_fold)])
        nearest = h[~held][:, held].min(1)  # candidate training site -> nearest held-out site
        need = int(np.ceil(min_train_share * len(nearest)))
        options = [v for v in np.concatenate([[0.0], nearest]) if (nearest > v).sum() >= need]
        cap = min(cap, max(options))
    return cap


def within(lat_a, lon_a, lat_b, lon_b, radius_km: float) -> np.ndarray:
    """[A] bool: points a within ``radius_km`` of any point b (great circle)."""
    if len(lat_b) == 0:
        return np.zeros(len(lat_a), bool)
    return (_great_circle(lat_a, lon_a, lat_b, lon_b) <= radius_km).any(1)


def fold_splits(
    site_fold: np.ndarray,
    test_fold: int,
    site_lat: np.ndarray,
    site_lon: np.ndarray,
    cell_lat: np.ndarray,
    cell_lon: np.ndarray,
    site_cell: np.ndarray,
    buffer_km: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Site and cell splits for one fold: sites of ``test_fold`` are ``test``, of the smallest other fold (the
    first of equal ones) ``val`` (early stopping needs few sites; training keeps the most), the rest ``train``;
    training sites within ``buffer_km`` of a test or validation site become ``buffer`` (used by no stage). Cells
    within ``buffer_km`` of a test site (and the test sites' cells) are ``test``, of a validation site ``val``,
    the others ``train``. Returns (site_split [S], cell_split [C])."""
    val_fold = validation_fold(site_fold, test_fold)
    site_split = np.where(site_fold == test_fold, "test", "train").astype(object)
    site_split[site_fold == val_fold] = "val"
    cell_split = np.full(len(cell_lat), "train", dtype=object)
    for split in ("val", "test"):  # test last: it wins where buffers overlap
        held = site_split == split
        near = within(site_lat, site_lon, site_lat[held], site_lon[held], buffer_km)
        site_split[(site_split == "train") & near] = "buffer"
        cells = within(cell_lat, cell_lon, site_lat[held], site_lon[held], buffer_km)
        cell_split[cells] = split
        cell_split[site_cell[held]] = split
    if not (site_split == "train").any():
        raise DataError(
            f"no training site is farther than the buffer ({buffer_km:.0f} km) from every held-out site: set "
            "dere.split.buffer_km smaller, dere.split.folds larger, or use more sites (synthetic.n_sites)"
        )
    if not (cell_split == "train").any():
        raise DataError(f"no training cell is farther than the buffer ({buffer_km:.0f} km) from the held-out sites")
    return site_split.astype(str), cell_split.astype(str)


def spatial_split(
    site_cell: np.ndarray,
    cell_lat: np.ndarray,
    cell_lon: np.ndarray,
    z: np.ndarray,
    *,
    n_folds: int,
    buffer_km: float | None,
    min_train_share: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Spatial folds of the sites (their cells' z-scored drivers z [C, T, F]) and the splits of every fold:
    (site_splits [n_folds, S] (fold k tests fold k's sites), cell_split [C] of fold 0, site_fold [S], info:
    n_folds, buffer_km, variogram_range_km). ``buffer_km`` None: the drivers' semivariogram length scale capped
    by :func:`capped_buffer` with ``min_train_share`` (a warning says when the cap applies)."""
    variogram = driver_variogram(cell_lat, cell_lon, z)
    site_lat, site_lon = cell_lat[site_cell], cell_lon[site_cell]
    site_fold = spatial_folds(site_lat, site_lon, z[site_cell], variogram, n_folds)
    if buffer_km is not None:
        radius = float(buffer_km)
    else:
        radius = capped_buffer(site_lat, site_lon, site_fold, variogram["range_km"], min_train_share)
        if radius < variogram["range_km"]:
            LOG.warning(
                "the drivers' semivariogram range (%.0f km) would leave fewer than %.0f%% of the sites in training: "
                "buffer capped at %.0f km (set dere.split.buffer_km to choose it, or add sites)",
                variogram["range_km"],
                100 * min_train_share,
                radius,
            )
    splits = [
        fold_splits(site_fold, k, site_lat, site_lon, cell_lat, cell_lon, site_cell, radius) for k in range(n_folds)
    ]
    site_splits = np.stack([site for site, _ in splits])
    info = {"n_folds": int(n_folds), "buffer_km": radius, "variogram_range_km": float(variogram["range_km"])}
    return site_splits, splits[0][1], site_fold, info
