"""Kriging pseudo-labels between flux sites (GSTools): a spatial baseline for CSDI label expansion.

The process model is the prior: residuals r = observation - process model at the site's cell are kriged
between sites, month by month, with ONE variogram fitted explicitly to all months' residuals (pooled,
great-circle distances in km) and passed to the kriging. Two variants:

- ``ordinary``: ordinary kriging of the residuals, label = process model + kriged residual;
- ``ext_drift``: external-drift kriging of the observations with the process model as the drift.

Conditional random fields (GSTools ``CondSRF``) draw samples of each month's field that honour the
observations: probabilistic labels comparable to CSDI samples (scored with CRPS). Labels farther from any
conditioning site than the fitted range, or with a kriging std above the residual sill's std, are flagged
``reliable = False``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

METHODS = ("ordinary", "ext_drift")


@dataclass
class KrigingResult:
    """Labels at the target points.

    ``labels``: DataFrame (site_id, time, mean, std, reliable, n_conditioning, nearest_km) per target;
    ``samples``: [n_samples, n_targets] conditional-field draws in the same row order (None without
    samples); ``variogram``: the fitted model's parameters (range km, sill, nugget).
    """

    labels: pd.DataFrame
    samples: np.ndarray | None
    variogram: dict


def fit_residual_variogram(
    lat, lon, residuals, *, n_bins: int = 10, max_distance_km: float | None = None, model: str = "Exponential"
):
    """Fit a GSTools model (lat/lon, km) to residuals [T, S] (NaN gaps) of S sites pooled over T months.

    Returns ``(model, info)`` with info = {"range_km", "sill", "nugget", "r2", "bins_km", "gamma", "counts"}.
    """
    import gstools as gs

    res = np.ma.masked_invalid(np.atleast_2d(np.asarray(residuals, dtype=np.float64)))
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    pairwise = _great_circle(lat, lon, lat, lon)
    if max_distance_km is None:
        max_distance_km = float(np.max(pairwise)) / 2 if pairwise.size > 1 else 1.0
    edges = np.linspace(0.0, max(max_distance_km, 1e-3), n_bins + 1)
    centres, gamma, counts = gs.vario_estimate(
        (lat, lon), res, edges.copy(), latlon=True, geo_scale=gs.KM_SCALE, return_counts=True
    )
    # (a copy: GSTools rescales the bin edges it is given in place)
    centres, gamma, counts = (np.asarray(a, dtype=np.float64) for a in (centres, gamma, counts))
    cov = getattr(gs, model)(latlon=True, geo_scale=gs.KM_SCALE)
    ok = (counts > 0) & np.isfinite(gamma)
    variance = float(np.ma.var(res)) if res.count() > 1 else 1.0
    variance = variance if variance > 0 else 1e-12
    if ok.sum() >= 3:
        cov.set_arg_bounds(
            len_scale=[1e-3, 10 * float(edges[-1])], var=[1e-12, 10 * variance], nugget=[0.0, 10 * variance]
        )
        _, _, r2 = cov.fit_variogram(
            centres[ok], gamma[ok], nugget=True, weights=counts[ok] / counts[ok].sum(), return_r2=True
        )
    else:  # too few pairs to fit: pure nugget-free exponential with the sample variance and half the extent
        cov.var, cov.len_scale, r2 = variance, max(float(edges[-1]), 1e-3), float("nan")
    info = {
        "model": model,
        "range_km": float(cov.len_scale),
        "sill": float(cov.var + cov.nugget),
        "nugget": float(cov.nugget),
        "r2": float(r2),
        "bins_km": centres.tolist(),
        "gamma": [float(g) for g in gamma],
        "counts": [int(c) for c in counts],
    }
    return cov, info


def _great_circle(lat1, lon1, lat2, lon2) -> np.ndarray:
    from terraflux.evaluate.semivariogram import haversine_km

    return haversine_km(
        np.asarray(lat1)[:, None], np.asarray(lat2)[None, :], np.asarray(lon2)[None, :] - np.asarray(lon1)[:, None]
    )


def krige_labels(
    sites: pd.DataFrame,
    observed: pd.DataFrame,
    prior: pd.DataFrame,
    targets: pd.DataFrame,
    *,
    method: str = "ordinary",
    n_samples: int = 0,
    seed: int = 0,
    n_bins: int = 10,
    model: str = "Exponential",
    mode_no: int = 128,
) -> KrigingResult:
    """Kriging labels of one variable at target (site, month) points.

    ``sites``: site_id, latitude, longitude. ``observed``: site_id, time, value (the conditioning data;
    targets' own observations must already be removed). ``prior``: site_id, time, value of the process
    model at every site's cell and month. ``targets``: site_id, time. ``n_samples`` conditional-field
    draws per target (0: none), generated with ``mode_no`` Fourier
    modes (GSTools' randomisation method; more is smoother and slower). Deterministic for a given ``seed``.
    """
    import gstools as gs

    if method not in METHODS:
        raise ValueError(f"kriging method must be one of {METHODS}, not {method!r}")
    sites = sites.set_index("site_id")
    obs = observed.merge(prior.rename(columns={"value": "prior"}), on=["site_id", "time"], how="left")
    obs = obs[np.isfinite(obs["value"]) & np.isfinite(obs["prior"])]
    obs["residual"] = obs["value"] - obs["prior"]
    # Residual matrix [months, sites] for the pooled variogram fit.
    wide = obs.pivot_table(index="time", columns="site_id", values="residual", aggfunc="mean")
    coords = sites.loc[wide.columns]
    cov, info = fit_residual_variogram(
        coords["latitude"].to_numpy(), coords["longitude"].to_numpy(), wide.to_numpy(), n_bins=n_bins, model=model
    )
    sill_std = np.sqrt(info["sill"])

    targets = targets[["site_id", "time"]].merge(
        prior.rename(columns={"value": "prior"}), on=["site_id", "time"], how="left"
    )
    rows, draws = [], []
    rng = np.random.default_rng(seed)
    for time, block in targets.groupby("time", sort=True):
        cond = obs[obs["time"] == time]
        t_lat = sites.loc[block["site_id"], "latitude"].to_numpy()
        t_lon = sites.loc[block["site_id"], "longitude"].to_numpy()
        t_prior = block["prior"].to_numpy()
        if len(cond) == 0:
            mean, std = t_prior.copy(), np.full(len(block), sill_std)
            nearest = np.full(len(block), np.inf)
            samples = t_prior[None] + rng.standard_normal((n_samples, len(block))) * sill_std if n_samples else None
        else:
            c_lat = sites.loc[cond["site_id"], "latitude"].to_numpy()
            c_lon = sites.loc[cond["site_id"], "longitude"].to_numpy()
            nearest = _great_circle(t_lat, t_lon, c_lat, c_lon).min(axis=1)
            if method == "ordinary":
                krige = gs.krige.Ordinary(cov, (c_lat, c_lon), cond["residual"].to_numpy(), exact=False)
                field, var = krige((t_lat, t_lon), return_var=True)
                mean = t_prior + field
            else:
                krige = gs.krige.ExtDrift(
                    cov, (c_lat, c_lon), cond["value"].to_numpy(), ext_drift=cond["prior"].to_numpy(), exact=False
                )
                mean, var = krige((t_lat, t_lon), ext_drift=t_prior, return_var=True)
            std = np.sqrt(np.maximum(var, 0.0))
            samples = None
            if n_samples:
                srf = gs.CondSRF(krige, mode_no=mode_no)
                kwargs = {"ext_drift": t_prior} if method == "ext_drift" else {}
                draws_t = [
                    srf((t_lat, t_lon), seed=int(rng.integers(2**31)), store=False, **kwargs) for _ in range(n_samples)
                ]
                samples = np.asarray(draws_t) + (t_prior[None] if method == "ordinary" else 0.0)
        reliable = (nearest <= info["range_km"]) & (std <= sill_std)
        rows.append(
            pd.DataFrame(
                {
                    "site_id": block["site_id"].to_numpy(),
                    "time": time,
                    "mean": mean,
                    "std": std,
                    "reliable": reliable,
                    "n_conditioning": len(cond),
                    "nearest_km": nearest,
                }
            )
        )
        if n_samples:
            draws.append(samples)
    labels = (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame(columns=["site_id", "time", "mean", "std", "reliable", "n_conditioning", "nearest_km"])
    )
    samples = np.concatenate(draws, axis=1) if n_samples and draws else None
    # Put rows back in the order of ``targets``.
    order = (
        targets[["site_id", "time"]]
        .reset_index(drop=True)
        .reset_index()
        .merge(labels.reset_index(), on=["site_id", "time"], suffixes=("_t", ""))
    )
    labels = labels.iloc[order["index"].to_numpy()].reset_index(drop=True)
    if samples is not None:
        samples = samples[:, order["index"].to_numpy()]
    return KrigingResult(labels, samples, info)


LABEL_COLUMNS = ["site_id", "time", "value", "std", "imputed", "reliable"]


def training_label_set(
    sites: pd.DataFrame,
    observed: pd.DataFrame,
    prior: pd.DataFrame,
    train_sites,
    *,
    method: str = "ordinary",
    seed: int = 0,
    n_bins: int = 10,
) -> pd.DataFrame:
    """The kriging label set of one variable for step 6, from the training sites alone.

    Only the observations of ``train_sites`` condition the kriging (and its variogram), and labels are made
    only at training sites: each training site's observed months keep their value (std 0, ``imputed`` False)
    and every other month of ``prior`` (site_id, time, value of the process model) gets the kriged label.
    No observation of a validation or test site reaches any label. ``sites``: site_id, latitude, longitude;
    ``observed``: site_id, time, value. Returns columns :data:`LABEL_COLUMNS`.
    """
    train = set(map(str, train_sites))
    if not train:
        raise ValueError("no training site to krige from (the dataset's site_split has no 'train' site)")
    obs = observed[observed["site_id"].astype(str).isin(train)]
    months = prior[prior["site_id"].astype(str).isin(train)][["site_id", "time"]]
    full = months.merge(obs, on=["site_id", "time"], how="left")
    gaps = full[full["value"].isna()][["site_id", "time"]]
    parts = [obs[["site_id", "time", "value"]].assign(std=0.0, imputed=False, reliable=True)]
    if len(gaps):
        kriged = krige_labels(sites, obs, prior, gaps, method=method, n_samples=0, seed=seed, n_bins=n_bins).labels
        parts.append(kriged.rename(columns={"mean": "value"}).assign(imputed=True))
    return pd.concat(parts, ignore_index=True)[LABEL_COLUMNS]
