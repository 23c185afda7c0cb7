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
the fitted semivariogram's length scale (the distance at which the correlation of the drivers drops to 1/e),
unless given: no training site or cell may lie within it of a held-out site.

Shapes: S sites, C cells, T months, F features; distances in km.
"""

from __future__ import annotations

from terraflux.errors import DataError
from terraflux.evaluate.kriging import _great_circle, fit_residual_variogram

import numpy as np


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
    sizes = {f: int((site_fold == f).sum()) for f in range(int(site_fold.max()) + 1) if f != test_fold}
    val_fold = min(sizes, key=lambda f: (sizes[f], f))
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
    test_fold: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Spatial folds of the sites (their cells' z-scored drivers z [C, T, F]) and the splits of fold
    ``test_fold``: (site_split [S], cell_split [C], site_fold [S], info: n_folds, buffer_km,
    variogram_range_km). ``buffer_km`` None: the drivers' semivariogram length scale."""
    variogram = driver_variogram(cell_lat, cell_lon, z)
    radius = float(buffer_km) if buffer_km is not None else variogram["range_km"]
    site_fold = spatial_folds(cell_lat[site_cell], cell_lon[site_cell], z[site_cell], variogram, n_folds)
    site_split, cell_split = fold_splits(
        site_fold, test_fold, cell_lat[site_cell], cell_lon[site_cell], cell_lat, cell_lon, site_cell, radius
    )
    info = {"n_folds": int(n_folds), "buffer_km": radius, "variogram_range_km": float(variogram["range_km"])}
    return site_split, cell_split, site_fold, info
