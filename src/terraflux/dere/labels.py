"""Expanded label sets for DERE step 6 as tensors ``label``, ``label_std`` [S, T, K] (gC m-2 d-1, NaN where no
label) and ``imputed`` [S, T, K] bool, from either source:

- ``csdi``: the step-5b store labels.zarr (``label``, ``label_std``, ``imputed`` over site, time, flux);
- ``kriging``: the evaluation layer's kriging_labels.parquet, long table site_id, time, variable, value, std,
  imputed, reliable (``basis``: basis_labels.parquet of rule basis_labels, the same layout). Kriged labels
  flagged ``reliable = False`` are dropped (no label there), since their kriging std exceeds the residual sill
  or no conditioning site lies within the variogram range.
"""

from __future__ import annotations

from terraflux.errors import DataError

import numpy as np
import pandas as pd
import torch
import xarray as xr

LABEL_SETS = ("csdi", "kriging", "basis")


def from_csdi(path: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    labels = xr.open_zarr(path, consolidated=False).load()
    t = lambda v: torch.from_numpy(labels[v].transpose("site", "time", "flux").values)  # noqa: E731
    return t("label"), t("label_std"), t("imputed").bool()


def from_kriging(
    table: pd.DataFrame, site_ids, times, fluxes, source: str = "kriging labels"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """table (see the module docstring) -> tensors on the grid ``site_ids`` x ``times`` (monthly) x ``fluxes``."""
    missing = {"site_id", "time", "variable", "value", "std", "imputed", "reliable"} - set(table.columns)
    if missing:
        raise DataError(f"{source}: columns {sorted(missing)} missing; rebuild it with rule evaluate_label_expansion")
    keep = table[~table["imputed"].astype(bool) | table["reliable"].astype(bool)]
    keep = keep[np.isfinite(keep["value"].to_numpy(dtype=float))]
    site_pos = {str(s): i for i, s in enumerate(site_ids)}
    month = pd.DatetimeIndex(times).to_period("M")
    time_pos = {p: i for i, p in enumerate(month)}
    flux_pos = {str(f): i for i, f in enumerate(fluxes)}
    s = keep["site_id"].astype(str).map(site_pos)
    t = pd.Series(pd.DatetimeIndex(keep["time"]).to_period("M"), index=keep.index).map(time_pos)
    k = keep["variable"].astype(str).map(flux_pos)
    inside = s.notna() & t.notna() & k.notna()
    if not inside.any():
        raise DataError(f"{source}: no row matches the dataset's sites, months and fluxes; was it built for this run?")
    rows = keep[inside]
    s, t, k = (v[inside].astype(int).to_numpy() for v in (s, t, k))
    shape = (len(site_ids), len(times), len(fluxes))
    label, std, imputed = np.full(shape, np.nan, np.float32), np.full(shape, np.nan, np.float32), np.zeros(shape, bool)
    label[s, t, k] = rows["value"].to_numpy(dtype=np.float32)
    std[s, t, k] = rows["std"].to_numpy(dtype=np.float32)
    imputed[s, t, k] = rows["imputed"].astype(bool).to_numpy()
    return torch.from_numpy(label), torch.from_numpy(std), torch.from_numpy(imputed)


def load(label_set: str, path: str, site_ids, times, fluxes) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The label set ``label_set`` (one of LABEL_SETS) stored at ``path``."""
    if label_set == "csdi":
        return from_csdi(path)
    if label_set in ("kriging", "basis"):  # basis: rule basis_labels writes the kriging labels' layout
        return from_kriging(pd.read_parquet(path), site_ids, times, fluxes, source=str(path))
    raise ValueError(f"label set must be one of {LABEL_SETS}, not {label_set!r}")
