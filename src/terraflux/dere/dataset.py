"""The DERE dataset store: everything the DERE stages read, in one zarr store, and its in-memory tensors.

``build_dataset`` combines the prepared stores (``era5_land_monthly.zarr``, ``pft.zarr``, ``sites.parquet``,
``insitu_monthly.parquet``) and ``process_model.zarr`` into one ``xr.Dataset``:

| variable | dims | units / meaning |
|---|---|---|
| ``x`` | (cell, time, feature) | drivers, z-scored with training-cell statistics (``x_mean``, ``x_std``) |
| ``y`` | (cell, age_class, time, variable) | process output per age class (mixed over PFT groups), gC m-2 d-1 etc. |
| ``process_fraction`` | (cell, age_class, year, pft_group) | process-model PFT fractions per age class |
| ``esa_fraction`` | (cell, year, pft_group) | ESA-CCI fractions of BL, NL, GS renormalised to sum 1 |
| ``age_weight`` | (cell, age_class) | share of each age class in the cell |
| ``cell_type`` | (cell) | ``BL``/``NL``/``GS`` where that group's mean ESA share >= ``pure_threshold``, else ``MIX`` |
| ``cell_split``, ``site_split`` | (cell), (site) | fold 0's ``train``/``val``/``test``; sites also ``buffer`` |
| ``site_fold`` | (site) | fold of each site (spatial or random folds) |
| ``fold_site_split`` | (fold, site) | the site splits when fold k is tested (row 0 equals ``site_split``) |
| ``insitu`` | (site, time, flux) | in-situ GPP, RECO, NEE, gC m-2 d-1, NaN at gaps |
| ``site_cell``, ``site_network``, ``site_igbp`` | (site) | matched cell index, network, IGBP class |
| ``y_mean``, ``y_std`` | (variable) | statistics of the training cells |
| ``insitu_mean``, ``insitu_std`` | (flux) | statistics of fold 0's training sites (per fold: ``DereTensors.fold``) |

The time axis is the drivers' monthly axis (whole years); the DERE window is the whole period.

Splits: sites fall into k folds, at random (seeded) without ``spatial_split``, else spatially separated
(:func:`terraflux.dere.folds.spatial_split`). When fold k is tested, the smallest other fold validates and no
training site (nor, spatially, cell) lies in the buffer around them (``fold_site_split``). Cells have one split,
fold 0's (random: drawn at random, val/test sites' cells share their split; spatial: the buffers of fold 0): only
the stages that never see a site observation (steps 1-3, KGML pretraining) use cells.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from terraflux.dere import folds
from terraflux.errors import DataError
from terraflux.simulate.process_model import GROUPS, OUTPUTS

import numpy as np
import pandas as pd
import torch
import xarray as xr

LOG = logging.getLogger(__name__)
FLUXES = ("GPP", "RECO", "NEE")
SPLITS = ("train", "val", "test")


def _split(
    n: int, val: float, test: float, rng: np.random.Generator, forced: dict[int, str] | None = None
) -> np.ndarray:
    """Seeded split labels for n items; ``forced`` pins some items to a split first."""
    labels = np.full(n, "train", dtype=object)
    forced = forced or {}
    for i, s in forced.items():
        labels[i] = s
    free = np.array([i for i in range(n) if i not in forced], dtype=int)
    order = rng.permutation(free)
    want = {
        s: max(int(round(f * n)) - sum(1 for v in forced.values() if v == s), 0)
        for s, f in (("val", val), ("test", test))
    }
    labels[order[: want["test"]]] = "test"
    labels[order[want["test"] : want["test"] + want["val"]]] = "val"
    return labels.astype(str)


def insitu_statistics(obs: np.ndarray, site_split: np.ndarray, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation [K] of the in-situ fluxes obs [S, T, K] at the training sites of a fold."""
    train = obs[site_split == "train"]
    mean, std = np.nanmean(train, (0, 1)), np.nanstd(train, (0, 1)) + 1e-6
    if not np.isfinite(mean).all():
        raise DataError(
            f"the training sites of fold {fold} have no in-situ observation of some flux; check "
            "insitu_monthly.parquet, or use fewer folds (dere.split.folds)"
        )
    return mean.astype(np.float32), std.astype(np.float32)


def build_dataset(
    drivers: xr.Dataset,
    pft: xr.Dataset,
    process: xr.Dataset,
    sites: pd.DataFrame,
    insitu: pd.DataFrame,
    *,
    pure_threshold: float,
    cell_val: float,
    cell_test: float,
    n_folds: int,
    seed: int,
    spatial_split: Callable | None = None,
) -> xr.Dataset:
    """See the module docstring. Cell fractions in [0, 1) (random splits); ``seed`` drives the random splits;
    ``n_folds`` random site folds. ``spatial_split`` (spatial splits, e.g. :func:`terraflux.dere.folds.spatial_split`
    with its settings bound) maps (site_cell [S], cell latitude [C], cell longitude [C], z-scored drivers [C, T, F])
    to (site_splits [folds, S], cell_split [C], site_fold [S], info dict)."""
    rng = np.random.default_rng(seed)
    if drivers.sizes["time"] % 12:
        raise DataError(f"era5_land_monthly.zarr has {drivers.sizes['time']} months: DERE needs whole years")
    names = sorted(
        v for v in drivers.data_vars if v != "land_mask" and drivers[v].dims == ("time", "latitude", "longitude")
    )
    land = (
        drivers["land_mask"].values.astype(bool)
        if "land_mask" in drivers
        else np.ones((drivers.sizes["latitude"], drivers.sizes["longitude"]), bool)
    )
    stack = np.stack([drivers[v].transpose("time", "latitude", "longitude").values for v in names], -1)  # (T, Y, X, F)
    land &= np.isfinite(stack).all(axis=(0, 3))
    iy, ix = np.nonzero(land)
    n_cells = len(iy)
    if n_cells == 0:
        raise DataError("era5_land_monthly.zarr has no land cell with complete drivers")
    month = drivers["time"].dt.month.values
    x = stack[:, iy, ix, :].transpose(1, 0, 2).astype(np.float32)  # (C, T, F)
    season = np.stack([np.sin(2 * np.pi * month / 12), np.cos(2 * np.pi * month / 12)], -1).astype(np.float32)
    x = np.concatenate([x, np.broadcast_to(season, (n_cells,) + season.shape)], -1)
    features = names + ["month_sin", "month_cos"]

    # sites -> cells, splits
    cell_of = {(a, b): c for c, (a, b) in enumerate(zip(iy, ix, strict=True))}
    sites = sites.reset_index(drop=True)
    keep = [(int(r.cell_iy), int(r.cell_ix)) in cell_of for r in sites.itertuples()]
    if not all(keep):
        LOG.warning(
            "dropping %d sites whose cell is not land: %s", len(keep) - sum(keep), list(sites.site_id[~np.array(keep)])
        )
    sites = sites[np.array(keep, bool)].reset_index(drop=True)
    if len(sites) < 3:
        raise DataError(f"only {len(sites)} in-situ sites fall on land cells: DERE needs at least 3 (train/val/test)")
    site_cell = np.array([cell_of[(int(r.cell_iy), int(r.cell_ix))] for r in sites.itertuples()])
    cell_lat, cell_lon = drivers["latitude"].values[iy], drivers["longitude"].values[ix]
    split_info: dict = {"split_method": "random" if spatial_split is None else "spatial"}
    if spatial_split is None:
        site_fold = folds.random_folds(len(sites), n_folds, rng)
        site_lat, site_lon = cell_lat[site_cell], cell_lon[site_cell]
        site_splits = np.stack(
            [
                folds.fold_splits(site_fold, k, site_lat, site_lon, cell_lat, cell_lon, site_cell, 0.0)[0]
                for k in range(n_folds)
            ]
        )
        forced: dict[int, str] = {}
        for cell, s in zip(site_cell, site_splits[0], strict=True):
            if s == "test" or (s == "val" and forced.get(cell) != "test"):
                forced[int(cell)] = str(s)
        cell_split = _split(n_cells, cell_val, cell_test, rng, forced)
        split_info.update({"n_folds": int(n_folds), "buffer_km": 0.0})
    else:
        raw = x[..., : len(names)]  # drivers only: the month features are alike everywhere
        z = (raw - raw.mean((0, 1))) / (raw.std((0, 1)) + 1e-6)
        site_splits, cell_split, site_fold, info = spatial_split(site_cell, cell_lat, cell_lon, z)
        split_info.update(info)
    site_split = site_splits[0]

    # in-situ on the drivers' time axis
    times = pd.DatetimeIndex(drivers["time"].values)
    table = insitu.copy()
    table["time"] = pd.to_datetime(table["time"]).dt.to_period("M").dt.to_timestamp()
    obs = np.full((len(sites), len(times), len(FLUXES)), np.nan, np.float32)
    index = {s: i for i, s in enumerate(sites.site_id)}
    table = table[table.site_id.isin(index) & table.time.isin(times)]
    rows = table.site_id.map(index).to_numpy()
    cols = times.get_indexer(table.time)
    for k, flux in enumerate(FLUXES):
        obs[rows, cols, k] = table[flux].to_numpy(dtype=np.float32)

    # process model and fractions
    years = np.unique(times.year)
    frac_by_month = (
        process["pft_fraction"]
        .sel(year=xr.DataArray(times.year, dims="time"))
        .drop_vars("year")
        .assign_coords(time=process["time"].values)
    )
    per_age = (process[list(OUTPUTS)].to_dataarray("variable") * frac_by_month).sum(
        "pft_group"
    )  # (variable, age, time, lat, lon)
    y = per_age.transpose("latitude", "longitude", "age_class", "time", "variable").values[iy, ix].astype(np.float32)
    pfrac = (
        process["pft_fraction"]
        .sel(year=years)
        .transpose("latitude", "longitude", "age_class", "year", "pft_group")
        .values[iy, ix]
    )
    agew = process["age_weight"].transpose("latitude", "longitude", "age_class").values[iy, ix]
    esa = (
        pft["fraction"]
        .sel(year=years, pft=list(GROUPS))
        .transpose("latitude", "longitude", "year", "pft")
        .values[iy, ix]
        .astype(np.float64)
    )
    esa_sum = esa.sum(-1, keepdims=True)
    esa = np.where(esa_sum > 1e-9, esa / np.where(esa_sum > 1e-9, esa_sum, 1), np.array([0, 0, 1.0]))
    mean_esa = esa.mean(1)
    cell_type = np.where(mean_esa.max(-1) >= pure_threshold, np.array(GROUPS)[mean_esa.argmax(-1)], "MIX")

    train = cell_split == "train"
    x_mean, x_std = x[train].mean((0, 1)), x[train].std((0, 1)) + 1e-6
    x = (x - x_mean) / x_std
    y_mean, y_std = y[train].mean((0, 1, 2)), y[train].std((0, 1, 2)) + 1e-6
    ins_mean, ins_std = [insitu_statistics(obs, split, k) for k, split in enumerate(site_splits)][0]  # checks all

    ages = process["age_class"].values
    ds = xr.Dataset(
        {
            "x": (("cell", "time", "feature"), x.astype(np.float32)),
            "y": (("cell", "age_class", "time", "variable"), y, {"units": "see variable_units"}),
            "process_fraction": (("cell", "age_class", "year", "pft_group"), pfrac.astype(np.float32)),
            "esa_fraction": (("cell", "year", "pft_group"), esa.astype(np.float32)),
            "age_weight": (("cell", "age_class"), agew.astype(np.float32)),
            "cell_type": ("cell", cell_type.astype(str)),
            "cell_split": ("cell", cell_split.astype(str)),
            "cell_iy": ("cell", iy.astype(np.int32)),
            "cell_ix": ("cell", ix.astype(np.int32)),
            "cell_latitude": ("cell", cell_lat),
            "cell_longitude": ("cell", cell_lon),
            "site_fold": ("site", site_fold.astype(np.int32)),
            "insitu": (("site", "time", "flux"), obs, {"units": "gC m-2 d-1"}),
            "site_cell": ("site", site_cell.astype(np.int32)),
            "site_network": ("site", sites.network.astype(str).to_numpy()),
            "site_igbp": ("site", sites.igbp.astype(str).to_numpy()),
            "site_split": ("site", site_split.astype(str)),
            "fold_site_split": (("fold", "site"), site_splits.astype(str)),
            "x_mean": ("feature", x_mean.astype(np.float32)),
            "x_std": ("feature", x_std.astype(np.float32)),
            "y_mean": ("variable", y_mean.astype(np.float32)),
            "y_std": ("variable", y_std.astype(np.float32)),
            "insitu_mean": ("flux", ins_mean.astype(np.float32)),
            "insitu_std": ("flux", ins_std.astype(np.float32)),
            "age_mid": ("age_class", process["age_mid"].values.astype(np.float32)),
            "latitude_grid": ("latitude", drivers["latitude"].values),
            "longitude_grid": ("longitude", drivers["longitude"].values),
        },
        coords={
            "cell": np.arange(n_cells),
            "time": drivers["time"].values,
            "feature": features,
            "age_class": ages,
            "variable": list(OUTPUTS),
            "pft_group": list(GROUPS),
            "year": years,
            "site": sites.site_id.astype(str).to_numpy(),
            "flux": list(FLUXES),
            "fold": np.arange(len(site_splits)),
        },
        attrs={"variable_units": [OUTPUTS[v][0] for v in OUTPUTS], "pure_threshold": pure_threshold, **split_info},
    )
    return ds


@dataclass
class DereTensors:
    """The dataset as torch tensors (CPU), plus index helpers. Shapes: C cells, T months, F features,
    A age classes, V process variables, P PFT groups, Y years, S sites, K = 3 fluxes."""

    x: torch.Tensor  # (C, T, F) normalised
    y: torch.Tensor  # (C, A, T, V) physical
    process_fraction: torch.Tensor  # (C, A, Y, P)
    esa_fraction: torch.Tensor  # (C, Y, P)
    age_weight: torch.Tensor  # (C, A)
    age_feature: torch.Tensor  # (A,) normalised age mid-points
    y_mean: torch.Tensor
    y_std: torch.Tensor
    insitu: torch.Tensor  # (S, T, K) physical, NaN gaps
    insitu_mean: torch.Tensor
    insitu_std: torch.Tensor
    site_cell: torch.Tensor  # (S,)
    cell_type: np.ndarray
    cell_split: np.ndarray
    site_split: np.ndarray
    site_network: np.ndarray
    site_igbp: np.ndarray
    site_ids: np.ndarray
    variables: list[str]
    fluxes: list[str]
    ds: xr.Dataset

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> DereTensors:
        def strings(name: str) -> np.ndarray:  # zarr may return numpy StringDType: plain fixed-width str
            return np.array([str(v) for v in ds[name].values.tolist()])

        t = lambda name: torch.from_numpy(np.ascontiguousarray(ds[name].values, dtype=np.float32))  # noqa: E731
        age = ds["age_mid"].values.astype(np.float32)
        return cls(
            x=t("x"),
            y=t("y"),
            process_fraction=t("process_fraction"),
            esa_fraction=t("esa_fraction"),
            age_weight=t("age_weight"),
            age_feature=torch.from_numpy((age - age.mean()) / (age.std() + 1e-6)),
            y_mean=t("y_mean"),
            y_std=t("y_std"),
            insitu=t("insitu"),
            insitu_mean=t("insitu_mean"),
            insitu_std=t("insitu_std"),
            site_cell=torch.from_numpy(ds["site_cell"].values.astype(np.int64)),
            cell_type=strings("cell_type"),
            cell_split=strings("cell_split"),
            site_split=strings("site_split"),
            site_network=strings("site_network"),
            site_igbp=strings("site_igbp"),
            site_ids=strings("site"),
            variables=[str(v) for v in ds["variable"].values],
            fluxes=[str(v) for v in ds["flux"].values],
            ds=ds,
        )

    @property
    def n_folds(self) -> int:
        return self.ds.sizes["fold"]

    def fold(self, k: int) -> DereTensors:
        """The tensors with fold ``k`` held out: its site splits and the in-situ statistics of its training sites
        (everything else shared)."""
        site_split = np.array([str(v) for v in self.ds["fold_site_split"].values[k].tolist()])
        mean, std = insitu_statistics(self.insitu.numpy(), site_split, k)
        return replace(
            self, site_split=site_split, insitu_mean=torch.from_numpy(mean), insitu_std=torch.from_numpy(std)
        )

    @property
    def n_ages(self) -> int:
        return self.age_weight.shape[1]

    @property
    def months_per_year(self) -> int:
        return self.x.shape[1] // self.esa_fraction.shape[1]

    def cells(self, split: str, cell_type: str | None = None) -> torch.Tensor:
        mask = self.cell_split == split
        if cell_type is not None:
            mask &= self.cell_type == cell_type
        return torch.from_numpy(np.nonzero(mask)[0])

    def sites(self, split: str, network: str = "all") -> torch.Tensor:
        mask = self.site_split == split
        if network != "all":
            mask &= self.site_network == network
        return torch.from_numpy(np.nonzero(mask)[0])

    def networks(self) -> list[str]:
        return sorted(set(self.site_network.tolist()))

    def flux_index(self) -> list[int]:
        return [self.variables.index(f) for f in self.fluxes]

    def monthly(self, yearly: torch.Tensor, dim: int) -> torch.Tensor:
        """Repeat a yearly axis ``dim`` to months."""
        return yearly.repeat_interleave(self.months_per_year, dim=dim)

    def cell_age_pairs(self, cells: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Every (cell, age class) pair of ``cells``, cell-major: cells [B * A], age classes [B * A]."""
        return cells.repeat_interleave(self.n_ages), torch.arange(self.n_ages).repeat(len(cells))

    def age_weighted_target(self, cells: torch.Tensor) -> torch.Tensor:
        """The process output summed over age classes with the cells' age weights: physical [B, L, V]."""
        return (self.y[cells] * self.age_weight[cells][:, :, None, None]).sum(1)

    def pure_cells(self, split: str, threshold: float, min_cells: int) -> list[torch.Tensor]:
        """Cells of ``split`` per PFT group whose mean ESA-CCI fraction >= threshold; at least ``min_cells``
        (the most dominated cells of that group) so that every branch has data in small regions."""
        groups = self.ds["pft_group"].values.tolist()
        frac = self.esa_fraction.mean(1)  # (C, P)
        cells = self.cells(split)
        out = []
        for g, name in enumerate(groups):
            share = frac[cells, g]
            chosen = cells[share >= threshold]
            if len(chosen) < min_cells:
                k = min(min_cells, len(cells))
                chosen = cells[share.topk(k).indices]
                LOG.warning(
                    "only %d %s cells of split %s reach pure_threshold %.2f: using the %d most %s-dominated cells",
                    int((share >= threshold).sum()),
                    name,
                    split,
                    threshold,
                    k,
                    name,
                )
            out.append(chosen.sort().values)
        return out
