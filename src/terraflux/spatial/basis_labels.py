"""Basis-function label expansion and upscaling of in-situ fluxes (:mod:`.basis` applied to the sites).

Per flux, the residuals r(t, s) = observation - process model at the site's cell (monthly, gC m-2 d-1) of
the training sites are decomposed into ``n_basis`` EOFs and site coefficients; a small network models each
site's mean and coefficients from its cell's covariates (:func:`cell_covariates`). A site-month is then
labelled as process model + mean + EOFs x coefficients, with the site's own coefficients at training sites
and the network's elsewhere (other sites, any model cell: the upscaled maps).

The label uncertainty ``std`` is the root mean square of the reconstruction's error on the training sites'
observed months: with the sites' own coefficients for them, with the network's coefficients for points
predicted from covariates (both in-sample, so optimistic).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from terraflux.spatial.basis import Basis, CoefficientModel, fit_basis, fit_coefficients

import numpy as np
import pandas as pd
import xarray as xr

CLIMATE = ("t2m", "tp", "ssrd", "vpd", "swvl1")


def cell_covariates(prior: xr.Dataset, climate: xr.Dataset, fluxes: Sequence[str]) -> xr.DataArray:
    """Covariates ``(latitude, longitude, covariate)`` of every model cell: its latitude and longitude, the
    time means of the process model's ``fluxes`` (``prior``) and of the monthly climate (:data:`CLIMATE`,
    those present in ``climate``), on the grid of ``prior``."""
    lat, lon = prior["latitude"].values, prior["longitude"].values
    layers = {
        "latitude": np.broadcast_to(lat[:, None], (lat.size, lon.size)),
        "longitude": np.broadcast_to(lon[None, :], (lat.size, lon.size)),
    }
    for flux in fluxes:
        layers[f"prior_{flux}"] = prior[flux].mean("time").values
    for name in CLIMATE:
        if name in climate:
            layers[name] = climate[name].mean("time").sel(latitude=lat, longitude=lon, method="nearest").values
    stack = np.stack([np.asarray(v, dtype=np.float64) for v in layers.values()], axis=-1)
    return xr.DataArray(
        stack,
        dims=("latitude", "longitude", "covariate"),
        coords={"latitude": lat, "longitude": lon, "covariate": list(layers)},
    )


def at_cells(grid: xr.DataArray, lat, lon) -> xr.DataArray:
    """Values of ``grid`` at the cells nearest to points ``lat``, ``lon`` [N] (dimension ``point``)."""
    return grid.sel(
        latitude=xr.DataArray(np.asarray(lat), dims="point"),
        longitude=xr.DataArray(np.asarray(lon), dims="point"),
        method="nearest",
    )


@dataclass
class BasisFit:
    """One flux's fit: ``basis`` over the training sites ``site_ids``, the covariate ``model``, the months
    ``times`` [T], and the error std with own (``std_own``) and predicted (``std_spatial``) coefficients."""

    basis: Basis
    model: CoefficientModel
    site_ids: list[str]
    times: pd.DatetimeIndex
    std_own: float
    std_spatial: float

    def residuals(self, site_ids: Sequence[str], covariates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Residual series [T, N] of points ``site_ids`` (a training site uses its own coefficients; any
        other id, e.g. '' for a grid cell, the network's from ``covariates`` [N, P]) and their std [N]."""
        mean, coef = self.model.predict(covariates)
        own = {s: i for i, s in enumerate(self.site_ids)}
        std = np.full(len(site_ids), self.std_spatial)
        for n, s in enumerate(site_ids):
            if s in own:
                mean[n], coef[n], std[n] = self.basis.mean[own[s]], self.basis.coefficients[own[s]], self.std_own
        return self.basis.reconstruct(mean, coef), std


def residual_matrix(observed: pd.DataFrame, prior: pd.DataFrame, times, site_ids) -> np.ndarray:
    """Residuals observation - prior [T, S] (NaN without an observation); frames: site_id, time, value."""
    obs = observed.pivot_table(index="time", columns="site_id", values="value", aggfunc="mean")
    pri = prior.pivot_table(index="time", columns="site_id", values="value", aggfunc="mean")
    obs = obs.reindex(index=times, columns=site_ids)
    pri = pri.reindex(index=times, columns=site_ids)
    return (obs - pri).to_numpy(dtype=np.float64)


def fit_flux(
    observed: pd.DataFrame,
    prior: pd.DataFrame,
    site_covariates: pd.DataFrame,
    train_sites: Sequence[str],
    cfg: Mapping,
    seed: int,
) -> BasisFit:
    """Fit one flux on the training sites with at least ``cfg["min_months"]`` observed months.

    ``observed``, ``prior``: site_id, time (month start), value; ``site_covariates``: covariates indexed by
    site_id; ``cfg``: config ``basis`` (n_basis, min_months, hidden, steps, lr, weight_decay).
    """
    times = pd.DatetimeIndex(sorted(prior["time"].unique()))
    sites = [str(s) for s in train_sites]
    r = residual_matrix(observed, prior, times, sites)
    keep = np.isfinite(r).sum(axis=0) >= int(cfg["min_months"])
    if keep.sum() < 2:
        raise ValueError(
            f"fewer than 2 training sites have {cfg['min_months']} observed months: lower config `basis.min_months`"
        )
    sites = [s for s, k in zip(sites, keep, strict=True) if k]
    r = r[:, keep]
    k = min(int(cfg["n_basis"]), r.shape[1] - 1, r.shape[0])
    basis = fit_basis(r, k)
    covariates = site_covariates.loc[sites].to_numpy(dtype=np.float64)
    model = fit_coefficients(
        covariates,
        basis,
        hidden=int(cfg["hidden"]),
        steps=int(cfg["steps"]),
        lr=float(cfg["lr"]),
        weight_decay=float(cfg["weight_decay"]),
        seed=seed,
    )
    valid = np.isfinite(r)
    own = basis.reconstruct()
    mean, coef = model.predict(covariates)
    spatial = basis.reconstruct(mean, coef)
    rms = lambda a: float(np.sqrt(np.mean((a[valid] - r[valid]) ** 2)))  # noqa: E731
    return BasisFit(basis, model, sites, times, rms(own), rms(spatial))


def site_labels(fit: BasisFit, prior: pd.DataFrame, observed: pd.DataFrame, variable: str) -> pd.DataFrame:
    """The label set of one flux at the fit's training sites, in the layout of the kriging labels: site_id,
    time, variable, value, std, imputed, reliable; observed months keep their observation with std 0."""
    recon = fit.basis.reconstruct()
    pri = prior.pivot_table(index="time", columns="site_id", values="value").reindex(
        index=fit.times, columns=fit.site_ids
    )
    label = pd.DataFrame(pri.to_numpy() + recon, index=fit.times, columns=fit.site_ids)
    long = label.stack(future_stack=True).rename("value").reset_index()
    long.columns = ["time", "site_id", "value"]
    obs = observed[observed["site_id"].isin(fit.site_ids)][["site_id", "time", "value"]]
    merged = long.merge(obs.rename(columns={"value": "observed"}), on=["site_id", "time"], how="left")
    seen = merged["observed"].notna()
    return pd.DataFrame(
        {
            "site_id": merged["site_id"].astype(str),
            "time": merged["time"],
            "variable": variable,
            "value": np.where(seen, merged["observed"], merged["value"]),
            "std": np.where(seen, 0.0, fit.std_own),
            "imputed": ~seen.to_numpy(),
            "reliable": True,
        }
    ).dropna(subset=["value"])


def point_predictions(
    fit: BasisFit, targets: pd.DataFrame, prior: pd.DataFrame, site_covariates: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Label mean and std [N] at target site-months (site_id, time)."""
    ids = [str(s) for s in targets["site_id"]]
    unique = list(dict.fromkeys(ids))
    series, std = fit.residuals(unique, site_covariates.loc[unique].to_numpy(dtype=np.float64))
    col = {s: i for i, s in enumerate(unique)}
    row = {t: i for i, t in enumerate(fit.times)}
    t_idx = np.array([row[pd.Timestamp(t)] for t in targets["time"]])
    s_idx = np.array([col[s] for s in ids])
    pri = prior.set_index(["site_id", "time"])["value"]
    base = pri.reindex(pd.MultiIndex.from_arrays([ids, pd.DatetimeIndex(targets["time"])])).to_numpy()
    return base + series[t_idx, s_idx], std[s_idx]


def holdout_samples(
    fit: BasisFit,
    hidden: pd.DataFrame,
    prior: pd.DataFrame,
    site_covariates: pd.DataFrame,
    variable: str,
    n_samples: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Gaussian label samples at hidden site-months, in the layout of DERE step 5's hidden-point samples:
    ``hidden`` (site_id, time, observation) [N] -> long table site_id, time, variable, observation, label
    (the label mean), sample, value (``n_samples`` draws of label mean + label std x N(0, 1), gC m-2 d-1)."""
    mean, std = point_predictions(fit, hidden, prior, site_covariates)
    draws = mean[None] + std[None] * rng.standard_normal((n_samples, mean.size))
    points = pd.DataFrame(
        {
            "site_id": hidden["site_id"].astype(str).to_numpy(),
            "time": pd.DatetimeIndex(hidden["time"]),
            "variable": variable,
            "observation": hidden["observation"].to_numpy(dtype=np.float64),
            "label": mean,
        }
    )
    return pd.concat([points.assign(sample=k, value=draws[k]) for k in range(n_samples)], ignore_index=True)


def grid_maps(fit: BasisFit, prior_grid: xr.DataArray, covariates: xr.DataArray) -> xr.DataArray:
    """Upscaled monthly map ``(time, latitude, longitude)``: the process model plus the residual field the
    network's coefficients give at every cell with finite covariates (NaN elsewhere)."""
    cov = covariates.transpose("latitude", "longitude", "covariate").values
    flat = cov.reshape(-1, cov.shape[-1])
    ok = np.isfinite(flat).all(axis=1)
    field = np.full((len(fit.times), flat.shape[0]), np.nan)
    series, _ = fit.residuals([""] * int(ok.sum()), flat[ok])
    field[:, ok] = series
    prior = prior_grid.sel(time=fit.times).transpose("time", "latitude", "longitude")
    values = prior.values + field.reshape(len(fit.times), *cov.shape[:2])
    return xr.DataArray(values.astype(np.float32), dims=prior.dims, coords=prior.coords)
