"""Exact empirical semivariograms of gridded fields with gaps, by FFT (Marcotte 1996).

For a field Z with validity indicator I (1 valid, 0 NaN) the number of valid pairs N(h) and the sum of
squared increments S(h) = sum (Z(p + h) - Z(p))^2 over every index lag h are cross-correlations, computed
with FFTs in O(n log n)::

    N(h) = corr(I_A, I_B)
    S(h) = corr(I_A, I_B Z^2) + corr(I_A Z^2, I_B) - 2 corr(I_A Z, I_B Z),   gamma(h) = S(h) / (2 N(h))

where A holds the first point of each pair and B the second. Every valid pair is counted (no sampling):
the result equals the estimator over all pairs to rounding.

Distances. On a projected grid (CERRA, metres) the lag (dy, dx) has one distance. On a regular lat/lon
grid the east-west spacing shrinks with cos(latitude), so one index lag has different true distances at
different latitudes: the grid is cut into latitude bands (A = the band's rows, B = the band plus ``L`` rows
on each side, L the largest north-south lag), the lags of each band get their great-circle distance at the
band's latitude, and all bands are binned together into distance classes. Band heights are chosen so that
the east-west distance of a lag varies by at most ``tolerance`` (relative) within a band; a grid spanning
360 degrees of longitude is treated as periodic. Distances are in km, gamma in the field's units squared.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import fft as sfft

EARTH_RADIUS_KM = 6371.0


@dataclass(frozen=True)
class GridGeometry:
    """Where the cells of a 2-D field [y, x] are.

    ``kind='latlon'``: ``y`` are latitudes, ``x`` longitudes (degrees, regular spacing, any order).
    ``kind='projected'``: ``y``, ``x`` are coordinates in metres (regular spacing).
    """

    kind: str
    y: np.ndarray
    x: np.ndarray

    def __post_init__(self):
        if self.kind not in ("latlon", "projected"):
            raise ValueError(f"grid kind must be 'latlon' or 'projected', not {self.kind!r}")
        for name in ("y", "x"):
            values = np.asarray(getattr(self, name), dtype=np.float64)
            if values.ndim != 1 or values.size < 2:
                raise ValueError(f"grid coordinate {name} must be 1-D with at least 2 values")
            steps = np.diff(values)
            if not np.allclose(steps, steps[0], rtol=1e-4, atol=1e-9):
                raise ValueError(f"grid coordinate {name} is not regularly spaced")
            object.__setattr__(self, name, values)

    @property
    def dy(self) -> float:
        return float(self.y[1] - self.y[0])

    @property
    def dx(self) -> float:
        return float(self.x[1] - self.x[0])

    @property
    def periodic(self) -> bool:
        """A lat/lon grid covering the full circle of longitudes wraps around."""
        return self.kind == "latlon" and math.isclose(abs(self.dx) * self.x.size, 360.0, rel_tol=1e-6)

    def extent_km(self) -> float:
        """A length scale of the domain: the larger of its north-south and east-west extents (km)."""
        if self.kind == "projected":
            return max(abs(self.dy) * (self.y.size - 1), abs(self.dx) * (self.x.size - 1)) / 1000.0
        ns = math.radians(abs(self.dy) * (self.y.size - 1)) * EARTH_RADIUS_KM
        lat_mid = math.radians(float(np.mean(self.y)))
        span = min(abs(self.dx) * (self.x.size - 1), 180.0)
        ew = math.radians(span) * EARTH_RADIUS_KM * math.cos(lat_mid)
        return max(ns, ew)


@dataclass
class Semivariogram:
    """A binned empirical semivariogram.

    ``edges`` [K+1] km; ``distance`` [K] mean pair distance per class (km, NaN if empty); ``gamma`` [K]
    (units^2); ``count`` [K] ordered pairs per class (each unordered pair counted twice).
    """

    edges: np.ndarray
    distance: np.ndarray
    gamma: np.ndarray
    count: np.ndarray
    max_band_error: float = 0.0
    info: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = asdict(self)
        for key in ("edges", "distance", "gamma", "count"):
            out[key] = [None if not np.isfinite(v) else float(v) for v in np.asarray(out[key], dtype=float)]
        return out


def haversine_km(lat1, lat2, dlon) -> np.ndarray:
    """Great-circle distance (km) between points at latitudes lat1, lat2 (deg) separated by dlon (deg)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(dlon)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def _latitude_bands(lat: np.ndarray, tolerance: float, max_rows: int) -> list[tuple[int, int]]:
    """Split rows into bands where max|tan(lat)| x the largest row offset from the band centre (rad) is
    at most ``tolerance`` (one row at least; a one-row band is exact)."""
    step = abs(math.radians(lat[1] - lat[0]))
    bands, start, n = [], 0, lat.size
    while start < n:
        stop = start + 1
        while stop < n and stop - start < max_rows:
            trial = lat[start : stop + 1]
            worst = float(np.max(np.abs(np.tan(np.radians(np.clip(trial, -89.999, 89.999))))))
            if worst * (stop - start) * step / 2 > tolerance:
                break
            stop += 1
        bands.append((start, stop))
        start = stop
    return bands


def _band_sums(z, ind, a0, a1, lag_y, lag_x, periodic, workers):
    """Pair counts N and increment sums S for pairs whose first point lies in rows [a0, a1).

    Returns (N, S) with shape [2 lag_y + 1, nlx] for dy = -lag_y..lag_y and dx = -lag_x..lag_x
    (periodic: dx = 0..nx-1).
    """
    ny, nx = z.shape
    r0, r1 = max(0, a0 - lag_y), min(ny, a1 + lag_y)
    off, height, nb = a0 - r0, a1 - a0, r1 - r0
    m = sfft.next_fast_len(max(nb - off, off + height) + lag_y, real=True)
    mx = nx if periodic else sfft.next_fast_len(nx + lag_x, real=True)
    zb, ib = z[r0:r1], ind[r0:r1]
    za, ia = np.zeros_like(zb), np.zeros_like(ib)
    za[off : off + height] = zb[off : off + height]
    ia[off : off + height] = ib[off : off + height]

    def spec(a):
        return sfft.rfft2(a, s=(m, mx), workers=workers)

    f_ia, f_ib = spec(ia), spec(ib)
    n_spec = np.conj(f_ia) * f_ib
    s_spec = np.conj(f_ia) * spec(zb * zb)
    s_spec += np.conj(spec(za * za)) * f_ib
    del f_ia, f_ib
    s_spec -= 2.0 * np.conj(spec(za)) * spec(zb)
    n_lag = sfft.irfft2(n_spec, s=(m, mx), workers=workers)
    s_lag = sfft.irfft2(s_spec, s=(m, mx), workers=workers)
    rows = np.arange(-lag_y, lag_y + 1) % m
    cols = np.arange(nx) if periodic else np.arange(-lag_x, lag_x + 1) % mx
    return n_lag[np.ix_(rows, cols)], s_lag[np.ix_(rows, cols)]


def lag_sums(field2d, geometry: GridGeometry, max_distance_km: float, *, tolerance: float = 0.02, workers: int = 1):
    """Yield (N, S, distance_km) per band of a 2-D field [y, x] with NaN gaps (all lags up to the
    maximum distance, arrays of equal shape). Used by :func:`semivariogram`; exposed for pooling."""
    z = np.asarray(field2d, dtype=np.float64)
    if z.ndim != 2 or z.shape != (geometry.y.size, geometry.x.size):
        raise ValueError(f"field shape {z.shape} does not match the grid {(geometry.y.size, geometry.x.size)}")
    ind = np.isfinite(z).astype(np.float64)
    if ind.sum() < 2:
        return
    mean = float(np.nanmean(z))
    z = np.where(ind > 0, z - mean, 0.0)
    ny, nx = z.shape
    if geometry.kind == "projected":
        sy, sx = abs(geometry.dy) / 1000.0, abs(geometry.dx) / 1000.0
        lag_y = min(ny - 1, int(math.ceil(max_distance_km / sy)))
        lag_x = min(nx - 1, int(math.ceil(max_distance_km / sx)))
        n, s = _band_sums(z, ind, 0, ny, lag_y, lag_x, False, workers)
        dyk = np.arange(-lag_y, lag_y + 1)[:, None] * sy
        dxk = np.arange(-lag_x, lag_x + 1)[None, :] * sx
        yield n, s, np.hypot(dyk, dxk), 0.0
        return
    lat = geometry.y
    dlat, dlon = geometry.dy, geometry.dx
    lag_y = min(ny - 1, int(math.ceil(max_distance_km / (math.radians(abs(dlat)) * EARTH_RADIUS_KM))))
    for a0, a1 in _latitude_bands(lat, tolerance, max_rows=max(8, 2 * lag_y)):
        band_lat = lat[a0:a1]
        lat_c = float(np.mean(band_lat))
        error = (
            float(np.max(np.abs(np.tan(np.radians(np.clip(band_lat, -89.999, 89.999))))))
            * math.radians(abs(dlat))
            * (a1 - a0 - 1)
            / 2
        )
        if geometry.periodic:
            lag_x = nx - 1
        else:
            # east-west lags reaching the maximum distance at the band's widest spacing
            poleward = min(89.999, float(np.max(np.abs(band_lat))) + lag_y * abs(dlat))
            cos_min = max(math.cos(math.radians(poleward)), 1e-6)
            lag_x = min(nx - 1, int(math.ceil(max_distance_km / (math.radians(abs(dlon)) * EARTH_RADIUS_KM * cos_min))))
        n, s = _band_sums(z, ind, a0, a1, lag_y, lag_x, geometry.periodic, workers)
        dy_idx = np.arange(-lag_y, lag_y + 1)[:, None]
        dx_idx = np.arange(nx)[None, :] if geometry.periodic else np.arange(-lag_x, lag_x + 1)[None, :]
        lat2 = np.clip(lat_c + dy_idx * dlat, -90.0, 90.0)
        dist = haversine_km(lat_c, lat2, dx_idx * dlon)
        yield n, s, dist, error


def default_edges(geometry: GridGeometry, max_distance_km: float | None, n_bins: int) -> np.ndarray:
    """Distance classes: ``n_bins`` equal classes from 0 to the maximum distance (default: half the
    domain's extent), the first starting above 0 so the zero lag is excluded."""
    if max_distance_km is None:
        max_distance_km = geometry.extent_km() / 2
    return np.linspace(0.0, float(max_distance_km), n_bins + 1)


class _Accumulator:
    def __init__(self, edges):
        self.edges = np.asarray(edges, dtype=np.float64)
        k = self.edges.size - 1
        self.n = np.zeros(k)
        self.s = np.zeros(k)
        self.d = np.zeros(k)
        self.error = 0.0

    def add(self, n, s, dist, error):
        keep = (n > 0.5) & (dist > 0) & (dist <= self.edges[-1])
        idx = np.searchsorted(self.edges, dist[keep], side="left") - 1
        idx = np.clip(idx, 0, self.n.size - 1)
        nk = np.rint(n[keep])
        self.n += np.bincount(idx, weights=nk, minlength=self.n.size)
        self.s += np.bincount(idx, weights=s[keep], minlength=self.n.size)
        self.d += np.bincount(idx, weights=nk * dist[keep], minlength=self.n.size)
        self.error = max(self.error, error)

    def result(self, info=None) -> Semivariogram:
        with np.errstate(invalid="ignore", divide="ignore"):
            gamma = np.where(self.n > 0, self.s / (2 * self.n), np.nan)
            dist = np.where(self.n > 0, self.d / self.n, np.nan)
        return Semivariogram(self.edges, dist, np.maximum(gamma, 0.0), self.n, self.error, dict(info or {}))


def semivariogram(
    fields,
    geometry: GridGeometry,
    *,
    edges=None,
    n_bins: int = 15,
    max_distance_km: float | None = None,
    tolerance: float = 0.02,
    workers: int = 1,
) -> Semivariogram:
    """Empirical semivariogram of a field [y, x], or pooled over a stack of fields [t, y, x] (pairs of
    each time step only; sums over steps), NaN = gap.

    ``edges`` (km) or ``n_bins`` classes up to ``max_distance_km``; ``tolerance``: largest relative error
    of a lag's east-west distance within a latitude band; ``workers``: FFT threads.
    """
    fields = np.asarray(fields)
    stack = fields[None] if fields.ndim == 2 else fields
    if stack.ndim != 3:
        raise ValueError(f"expected a field [y, x] or a stack [t, y, x], got shape {fields.shape}")
    if edges is None:
        edges = default_edges(geometry, max_distance_km, n_bins)
    acc = _Accumulator(edges)
    for frame in stack:
        for n, s, dist, error in lag_sums(frame, geometry, float(acc.edges[-1]), tolerance=tolerance, workers=workers):
            acc.add(n, s, dist, error)
    return acc.result({"n_fields": int(stack.shape[0]), "grid": geometry.kind, "periodic": geometry.periodic})


# ------------------------------------------------------------------------------------ comparison, fits


def semivariogram_distance(pred: Semivariogram, ref: Semivariogram) -> float:
    """D = sum_k N_k |log gamma_pred_k - log gamma_ref_k| / sum_k N_k over classes where both are > 0
    (0 = identical spatial structure; 0.69 = a factor of 2 everywhere)."""
    ok = (pred.count > 0) & (pred.gamma > 0) & (ref.gamma > 0)
    if not ok.any():
        return float("nan")
    w = pred.count[ok]
    return float(np.sum(w * np.abs(np.log(pred.gamma[ok]) - np.log(ref.gamma[ok]))) / np.sum(w))


def fit_model(sv: Semivariogram, model: str = "Exponential") -> dict:
    """Fit a GSTools covariance model with nugget to the binned semivariogram (weights = pair counts).

    Returns ``{"model", "range_km" (GSTools length scale), "sill" (variance + nugget), "nugget",
    "nugget_ratio" (nugget / sill), "r2"}`` (NaN values when fewer than 3 classes hold pairs).
    """
    import gstools as gs

    ok = (sv.count > 0) & np.isfinite(sv.gamma) & np.isfinite(sv.distance)
    out = {"model": model, "range_km": np.nan, "sill": np.nan, "nugget": np.nan, "nugget_ratio": np.nan, "r2": np.nan}
    if ok.sum() < 3 or np.all(sv.gamma[ok] == 0):
        return out
    cov = getattr(gs, model)(dim=2)
    x = sv.distance[ok]
    # Fit in units of the largest semivariance: GSTools' robust loss is not scale-free, so this makes
    # the fitted sill scale exactly with the field (a field times c gets c^2 times the sill).
    scale = float(sv.gamma[ok].max())
    y = sv.gamma[ok] / scale
    cov.set_arg_bounds(len_scale=[1e-6, 10 * float(x.max())], var=[0.0, 10.0], nugget=[0.0, 1.0])
    init = {"len_scale": float(np.median(x)), "var": 1.0, "nugget": 0.0, "default": "default"}
    _, _, r2 = cov.fit_variogram(
        x, y, nugget=True, weights=sv.count[ok] / sv.count[ok].sum(), return_r2=True, init_guess=init
    )
    # back to the field's units (not set on ``cov``: its fit bounds are in the scaled units)
    var, nugget = float(cov.var) * scale, float(cov.nugget) * scale
    sill = var + nugget
    out.update(
        range_km=float(cov.len_scale),
        sill=sill,
        nugget=nugget,
        nugget_ratio=nugget / sill if sill > 0 else np.nan,
        r2=float(r2),
    )
    return out


def compare_structure(
    pred,
    ref,
    geometry: GridGeometry,
    *,
    n_bins: int = 15,
    max_distance_km: float | None = None,
    model: str = "Exponential",
    tolerance: float = 0.02,
    workers: int = 1,
) -> dict:
    """Mask-consistent comparison of predicted and reference fields ([y, x] or [t, y, x]).

    Both are masked to the cells valid in BOTH, so gaps cannot make the structures differ. Returns
    ``{"pred": Semivariogram, "ref": Semivariogram, "D": float, "fit_pred": dict, "fit_ref": dict,
    "ratios": {"range", "sill", "nugget"} (pred / ref)}``.
    """
    pred = np.asarray(pred, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if pred.shape != ref.shape:
        raise ValueError(f"prediction {pred.shape} and reference {ref.shape} differ in shape")
    both = np.isfinite(pred) & np.isfinite(ref)
    pred = np.where(both, pred, np.nan)
    ref = np.where(both, ref, np.nan)
    edges = default_edges(geometry, max_distance_km, n_bins)
    sv_p = semivariogram(pred, geometry, edges=edges, tolerance=tolerance, workers=workers)
    sv_r = semivariogram(ref, geometry, edges=edges, tolerance=tolerance, workers=workers)
    fit_p, fit_r = fit_model(sv_p, model), fit_model(sv_r, model)

    def ratio(key):
        a, b = fit_p[key], fit_r[key]
        return float(a / b) if np.isfinite(a) and np.isfinite(b) and b > 0 else float("nan")

    return {
        "pred": sv_p,
        "ref": sv_r,
        "D": semivariogram_distance(sv_p, sv_r),
        "fit_pred": fit_p,
        "fit_ref": fit_r,
        "ratios": {"range": ratio("range_km"), "sill": ratio("sill"), "nugget": ratio("nugget")},
        "valid_fraction": float(both.mean()),
    }
