"""``evaluate_downscale``: every downscaled series against the fine truth, plus domain similarity.

Models: ``bilinear`` and ``bicubic`` (interpolated coarse fields, from the dataset), ``unet`` (deterministic
U-Net), ``diffusion_mean`` (the ensemble mean: the point estimate) and ``diffusion_sample`` (one ensemble
member: a realistic field, for the spatial structure). Point skill per variable and season and the
structure checks use the test years; the lead curves every step after the training period.
"""

from __future__ import annotations

from collections.abc import Mapping

from terraflux.spatial import figures, score
from terraflux.spatial.domain import domain_distances

import numpy as np
import pandas as pd
import xarray as xr


def model_fields(ds: xr.Dataset, predictions: Mapping[str, str]) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Fields [time, variable, y, x] of each model (module docstring) and the diffusion ensemble (or None)."""
    order = ("time", "variable", "y", "x")
    fields = {k: ds[k].transpose(*order).values for k in ("bilinear", "bicubic")}
    members = None
    for kind, path in predictions.items():
        fine = xr.open_zarr(path, consolidated=False)["fine"].transpose("member", *order).values
        if kind == "diffusion":
            members = fine
            fields["diffusion_mean"], fields["diffusion_sample"] = fine.mean(axis=0), fine[0]
        else:
            fields[kind] = fine[0]
    mask = ds["mask"].values
    return {k: np.where(mask, v, np.nan) for k, v in fields.items()}, members


def lead_block_steps(times: np.ndarray, days: int) -> int:
    """Time steps per block of ``days`` days (at least one) on the axis ``times`` (datetime64, regular)."""
    step_days = float(np.median(np.diff(times).astype("timedelta64[s]").astype(float))) / 86400.0
    return max(1, round(days / step_days))


def evaluate(dataset_path: str, predictions: Mapping[str, str], cfg: Mapping, time_unit: str) -> dict:
    """Tables ``skill``, ``structure``, ``lead``, ``domain`` (DataFrames), ``crps`` and ``curves`` (JSON-able)
    and the figures ``maps``, ``lead_figure``, ``structure_figure``; ``cfg``: config ``downscale.evaluate``."""
    from terraflux.evaluate.figures import structure_figure

    ds = xr.open_zarr(dataset_path, consolidated=False).load()
    names = [str(v) for v in ds["variable"].values]
    units = dict(ds.attrs["units"])
    truth = np.where(ds["mask"].values, ds["fine"].transpose("time", "variable", "y", "x").values, np.nan)
    times, split = ds["time"].values, ds["split"].values.astype(str)
    test = split == "test"
    if not test.any():
        raise ValueError("the downscaling dataset has no test time step: set config `period.test_years`")
    grid = score.geometry(ds.attrs["grid_kind"], ds["y"].values, ds["x"].values)
    fields, members = model_fields(ds, predictions)
    last_train = int(np.nonzero(split == "train")[0].max())
    block = lead_block_steps(times, int(cfg["lead_block_days"]))
    skill, structure, lead, curves = [], [], [], {}
    for model, pred in fields.items():
        skill.append(score.skill_frame(score.skill_by_season(pred, truth, times, names, test), model))
        lead.append(score.skill_frame(score.skill_by_lead(pred, truth, names, last_train, block), model))
        res = score.structure(pred, truth, names, grid, test, cfg)
        structure.extend(score.structure_rows(model, res))
        curves[model] = res
    crps = score.ensemble_crps(members, truth, names, test) if members is not None else {}
    domain = domain_distances(ds["coarse"].values, ds["fine"].values, times, names, split)
    index = np.nonzero(test)[0]
    at = index[len(index) // 2] if int(cfg["map_index"]) < 0 else index[min(int(cfg["map_index"]), len(index) - 1)]
    panels = {"truth": truth[at], **{k: v[at] for k, v in fields.items()}}
    if members is not None:
        panels["diffusion spread"] = np.where(ds["mask"].values, members[:, at].std(axis=0), np.nan)
    date = str(np.datetime_as_string(times[at], unit="D"))
    shown = "diffusion_sample" if "diffusion_sample" in curves else "bilinear"
    return {
        "skill": pd.concat(skill, ignore_index=True),
        "structure": pd.DataFrame(structure),
        "lead": pd.concat(lead, ignore_index=True),
        "domain": domain,
        "crps": crps,
        "curves": {
            m: {
                v: {k: r[k] for k in ("fit_pred", "fit_ref", "ratios", "D", "acf_pred", "acf_ref")}
                for v, r in res.items()
            }
            for m, res in curves.items()
        },
        "maps": figures.maps(panels, names, units, f"Downscaled fields, {date} (test years)"),
        "lead_figure": figures.lead_curves(
            pd.concat(lead, ignore_index=True), units, time_unit, "Skill by lead after the training period"
        ),
        "structure_figure": structure_figure(
            curves[shown], units=units, title=f"{shown} vs truth: structure over the test years", time_unit=time_unit
        ),
    }


def pretrain_table(dataset_path: str, predictions: Mapping[str, str], cfg: Mapping) -> pd.DataFrame:
    """One row per pretraining option (``predictions``: option -> diffusion predictions.zarr) and variable:
    RMSE, R2, CRPS of the ensemble and structure ratios of one member on the test years."""
    ds = xr.open_zarr(dataset_path, consolidated=False).load()
    names = [str(v) for v in ds["variable"].values]
    mask = ds["mask"].values
    truth = np.where(mask, ds["fine"].transpose("time", "variable", "y", "x").values, np.nan)
    test = ds["split"].values.astype(str) == "test"
    grid = score.geometry(ds.attrs["grid_kind"], ds["y"].values, ds["x"].values)
    rows = []
    for option, path in predictions.items():
        members = xr.open_zarr(path, consolidated=False)["fine"].transpose("member", "time", "variable", "y", "x")
        members = np.where(mask, members.values, np.nan)
        skill = score.skill_by_season(members.mean(axis=0), truth, ds["time"].values, names, test)
        crps = score.ensemble_crps(members, truth, names, test)
        structure = score.structure_rows(option, score.structure(members[0], truth, names, grid, test, cfg))
        for name, srow in zip(names, structure, strict=True):
            point = next(r for r in skill if r["variable"] == name and r["season"] == "all")
            rows.append(
                {
                    "pretrain": option,
                    "variable": name,
                    "rmse": point["rmse"],
                    "r2": point["r2"],
                    "crps": crps[name],
                    "range_ratio": srow["range_ratio"],
                    "sill_ratio": srow["sill_ratio"],
                    "D": srow["D"],
                }
            )
    return pd.DataFrame(rows)
