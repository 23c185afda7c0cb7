"""terraflux's own bottom-up carbon-flux model, per model cell, PFT group (BL, NL, GS) and forest-age class.

Per group p and age class a (age mid-point ``age`` in years), monthly, from the prepared ERA5-Land drivers:

    LAI   = lai_max * (1 - exp(-age / lai_age_tau)) * phen(T),
            phen = evergreen + (1 - evergreen) * sigmoid((T - t_pheno) / 2)
    fAPAR = 1 - exp(-k_ext * LAI)
    GPP   = eps_max * (1 - age_eps_decline * min(age / 150, 1)) * fAPAR * PAR * f(T) * f(VPD) * f(W)
            PAR = 0.5 * ssrd [MJ m-2 d-1], f(T) = exp(-((T - t_opt) / t_width)^2), f(VPD) linear ramp vpd_min..vpd_max,
            f(W) = clip((swvl1 - w_wilt) / (w_field - w_wilt), 0, 1)
    Ra    = min(ra_frac + ra_frac_age * age / 100, 0.9) * GPP
    Csoil = csoil_young * (1 + csoil_age * min(age / 100, 1.5))
    Rh    = rh_ref * q10^((Tsoil - 10) / 10) * g(W) * Csoil / csoil_young,
            g(W) = 0.3 + 0.7 * 4 w (1 - w) (w: relative soil water)
    NPP = GPP - Ra,  RECO = Ra + Rh,  NEE = RECO - GPP,  Cveg = cveg_max * (1 - exp(-age / lai_age_tau))

Fluxes in gC m-2 d-1, temperatures in degC (from K), VPD in hPa. The model's own land cover per age class:
tree groups get the weight age / (age + tree_age_half) relative to grass, times the ESA-CCI fractions of the
cell and year, renormalised over the three groups. Age weights per cell (share of each age class): an
exponential age distribution whose mean age grows with the cell's tree cover (20 + 100 x tree fraction years).
These are assumptions of this simple model, not observations; in the synthetic world the true fluxes come
from a different parameterisation, so the model is biased in a realistic way.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from terraflux.errors import ConfigError, DataError

import numpy as np
import xarray as xr
import yaml

PARAMETER_FILE = Path(__file__).resolve().parents[1] / "data" / "process_model_parameters.yaml"
GROUPS = ("BL", "NL", "GS")
OUTPUTS = {
    "GPP": ("gC m-2 d-1", "gross primary production"),
    "NPP": ("gC m-2 d-1", "net primary production"),
    "Ra": ("gC m-2 d-1", "autotrophic respiration"),
    "Rh": ("gC m-2 d-1", "heterotrophic respiration"),
    "RECO": ("gC m-2 d-1", "ecosystem respiration"),
    "NEE": ("gC m-2 d-1", "net ecosystem exchange (positive: source)"),
    "LAI": ("m2 m-2", "leaf area index"),
    "fAPAR": ("1", "fraction of absorbed PAR"),
    "Cveg": ("gC m-2", "vegetation carbon"),
    "Csoil": ("gC m-2", "soil carbon"),
}
REQUIRED_DRIVERS = ("t2m", "ssrd", "vpd", "swvl1")


@dataclass(frozen=True)
class Parameters:
    """The versioned parameter table: ``values[name]`` is an array over GROUPS."""

    version: str
    values: dict[str, np.ndarray]
    sources: dict[str, str]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[name]


def load_parameters(path: str | Path = PARAMETER_FILE) -> Parameters:
    """Read the parameter table (YAML: version, groups, parameters with a value per group, unit, source)."""
    path = Path(path)
    table = yaml.safe_load(path.read_text())
    if tuple(table.get("groups", ())) != GROUPS:
        raise DataError(f"{path}: 'groups' must be {list(GROUPS)}")
    values, sources = {}, {}
    for name, entry in table["parameters"].items():
        missing = [g for g in GROUPS if g not in entry]
        if missing or "source" not in entry:
            raise DataError(f"{path}: parameter {name!r} needs a value for {GROUPS} and a 'source'")
        values[name] = np.array([float(entry[g]) for g in GROUPS], dtype=np.float64)
        sources[name] = str(entry["source"])
    return Parameters(version=str(table["version"]), values=values, sources=sources)


def age_classes(edges: list[float]) -> xr.Dataset:
    """Age-class coordinates from increasing edges in years, e.g. [0, 20, 40, 80, 150] -> 4 classes."""
    edges = [float(e) for e in edges]
    if len(edges) < 2 or any(b <= a for a, b in itertools.pairwise(edges)) or edges[0] < 0:
        raise ConfigError(f"simulate.age_class_edges must be at least two increasing ages >= 0, not {edges}")
    lower, upper = np.array(edges[:-1]), np.array(edges[1:])
    index = np.arange(len(lower))
    return xr.Dataset(
        coords={
            "age_class": ("age_class", index),
            "age_lower": ("age_class", lower, {"units": "years"}),
            "age_upper": ("age_class", upper, {"units": "years"}),
            "age_mid": ("age_class", (lower + upper) / 2, {"units": "years"}),
        }
    )


def _check_drivers(drivers: xr.Dataset) -> None:
    missing = [v for v in REQUIRED_DRIVERS if v not in drivers]
    if missing:
        raise DataError(
            f"era5_land_monthly.zarr lacks {missing} needed by the process model; add them to "
            "sources.era5_land.variables (vpd is derived from t2m and d2m)"
        )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def land_cover(fraction: xr.DataArray, ages: xr.Dataset, params: Parameters) -> tuple[xr.DataArray, xr.DataArray]:
    """The model's PFT fractions per age class and year, and age weights per cell.

    fraction: ESA-CCI ``fraction(year, pft, latitude, longitude)`` with pft including BL, NL, GS.
    Returns ``pft_fraction(age_class, year, pft_group, latitude, longitude)`` (sums to 1 over groups) and
    ``age_weight(age_class, latitude, longitude)`` (sums to 1 over age classes).
    """
    base = fraction.sel(pft=list(GROUPS)).rename(pft="pft_group").astype("float64").fillna(0.0)
    age = ages["age_mid"]
    half = xr.DataArray(params["tree_age_half"], dims="pft_group", coords={"pft_group": list(GROUPS)})
    tree = xr.DataArray([1.0, 1.0, 0.0], dims="pft_group", coords={"pft_group": list(GROUPS)})
    weight = tree * age / (age + xr.where(half > 0, half, 1.0)) + (1 - tree)
    raw = (base * weight).transpose("age_class", "year", "pft_group", ...)
    total = raw.sum("pft_group")
    grass_only = xr.DataArray([0.0, 0.0, 1.0], dims="pft_group", coords={"pft_group": list(GROUPS)})
    frac = xr.where(total > 1e-9, raw / total.where(total > 1e-9, 1.0), grass_only)
    trees = base.sel(pft_group=["BL", "NL"]).sum("pft_group").mean("year")
    mean_age = 20.0 + 100.0 * trees
    density = np.exp(-age / mean_age) * (ages["age_upper"] - ages["age_lower"])
    age_weight = (density / density.sum("age_class")).transpose("age_class", ...)
    return frac.transpose("age_class", "year", "pft_group", ...).astype("float32"), age_weight.astype("float32")


def run_process_model(drivers: xr.Dataset, fraction: xr.DataArray, ages: xr.Dataset, params: Parameters) -> xr.Dataset:
    """Run the model on monthly drivers ``(time, latitude, longitude)``; see the module docstring.

    Returns a Dataset with the 10 outputs as ``(pft_group, age_class, time, latitude, longitude)``,
    ``pft_fraction``, ``age_weight``, ``land_mask`` (cells off land are NaN).
    """
    _check_drivers(drivers)
    years = np.unique(drivers["time"].dt.year.values)
    missing_years = sorted(set(years) - set(fraction["year"].values.tolist()))
    if missing_years:
        raise DataError(
            f"pft.zarr has no fractions for years {missing_years} of the drivers; "
            "prepare land cover for the whole period"
        )
    p = {k: v[:, None, None, None, None] for k, v in params.values.items()}  # (P, 1, 1, 1, 1)
    age = ages["age_mid"].values[None, :, None, None, None]  # (1, A, 1, 1, 1)

    def field(name: str) -> np.ndarray:
        return drivers[name].transpose("time", "latitude", "longitude").values.astype(np.float64)[None, None]

    temp = field("t2m") - 273.15
    tsoil = field("stl1") - 273.15 if "stl1" in drivers else temp
    par = 0.5 * field("ssrd") * 1e-6
    vpd = field("vpd")
    swc = field("swvl1")

    phen = p["evergreen"] + (1 - p["evergreen"]) * _sigmoid((temp - p["t_pheno"]) / 2.0)
    lai = p["lai_max"] * (1 - np.exp(-age / p["lai_age_tau"])) * phen
    fapar = 1 - np.exp(-p["k_ext"] * lai)
    f_t = np.exp(-(((temp - p["t_opt"]) / p["t_width"]) ** 2))
    f_vpd = np.clip(1 - (vpd - p["vpd_min"]) / (p["vpd_max"] - p["vpd_min"]), 0, 1)
    w_rel = np.clip((swc - p["w_wilt"]) / (p["w_field"] - p["w_wilt"]), 0, 1)
    eps = p["eps_max"] * (1 - p["age_eps_decline"] * np.minimum(age / 150.0, 1.0))
    gpp = eps * fapar * par * f_t * f_vpd * w_rel
    ra = np.minimum(p["ra_frac"] + p["ra_frac_age"] * age / 100.0, 0.9) * gpp
    csoil_rel = 1 + p["csoil_age"] * np.minimum(age / 100.0, 1.5)
    rh = p["rh_ref"] * p["q10"] ** ((tsoil - 10.0) / 10.0) * (0.3 + 0.7 * 4 * w_rel * (1 - w_rel)) * csoil_rel
    npp = gpp - ra
    reco = ra + rh
    nee = reco - gpp
    shape = np.broadcast_shapes(gpp.shape, lai.shape)
    csoil = np.broadcast_to(p["csoil_young"] * csoil_rel, shape)
    cveg = np.broadcast_to(p["cveg_max"] * (1 - np.exp(-age / p["lai_age_tau"])), shape)
    values = {
        "GPP": gpp,
        "NPP": npp,
        "Ra": ra,
        "Rh": rh,
        "RECO": reco,
        "NEE": nee,
        "LAI": lai,
        "fAPAR": fapar,
        "Cveg": cveg,
        "Csoil": csoil,
    }

    land = (
        drivers["land_mask"].astype(bool)
        if "land_mask" in drivers
        else xr.ones_like(drivers["t2m"].isel(time=0), dtype=bool)
    )
    coords = {
        "pft_group": list(GROUPS),
        "age_class": ages["age_class"].values,
        "time": drivers["time"],
        "latitude": drivers["latitude"],
        "longitude": drivers["longitude"],
    }
    out = xr.Dataset(coords=coords)
    out = out.assign_coords({k: ages[k] for k in ("age_lower", "age_upper", "age_mid")})
    dims = ("pft_group", "age_class", "time", "latitude", "longitude")
    for name, (unit, long_name) in OUTPUTS.items():
        data = np.broadcast_to(values[name], shape).astype(np.float32)
        out[name] = xr.DataArray(data, dims=dims, coords=coords, attrs={"units": unit, "long_name": long_name}).where(
            land
        )
    frac, weight = land_cover(fraction.sel(year=years), ages, params)
    out["pft_fraction"] = frac.where(land)
    out["pft_fraction"].attrs = {"units": "1", "long_name": "process-model PFT-group fraction per age class and year"}
    out["age_weight"] = weight.where(land)
    out["age_weight"].attrs = {"units": "1", "long_name": "share of each forest-age class in the cell"}
    out["land_mask"] = land
    out.attrs.update(
        {"title": "terraflux bottom-up process model", "parameters_version": params.version, "Conventions": "CF-1.8"}
    )
    return out


def physics_residuals(ds: xr.Dataset) -> dict[str, float]:
    """Max |residual| of the model's identities (NPP = GPP - Ra, RECO = Ra + Rh, NEE = RECO - GPP)."""
    return {
        "NPP-(GPP-Ra)": float(abs(ds["NPP"] - (ds["GPP"] - ds["Ra"])).max()),
        "RECO-(Ra+Rh)": float(abs(ds["RECO"] - (ds["Ra"] + ds["Rh"])).max()),
        "NEE-(RECO-GPP)": float(abs(ds["NEE"] - (ds["RECO"] - ds["GPP"])).max()),
    }


def convert_external(source: xr.Dataset, ages: xr.Dataset) -> xr.Dataset:
    """Check a user-supplied process-model dataset (e.g. ED / CarbonGlobe output regridded to the model grid)
    against the layout written by :func:`run_process_model` and return it in that layout.

    Required: the 10 outputs with dims (pft_group, age_class, time, latitude, longitude), ``pft_fraction``
    (age_class, year, pft_group, latitude, longitude), ``age_weight`` (age_class, latitude, longitude).
    """
    needed = list(OUTPUTS) + ["pft_fraction", "age_weight"]
    missing = [v for v in needed if v not in source]
    if missing:
        raise DataError(
            f"the process-model file lacks variables {missing}; it needs {needed} (see docs/data-layout.md)"
        )
    if source.sizes.get("age_class") != ages.sizes["age_class"]:
        raise DataError(
            f"the process-model file has {source.sizes.get('age_class')} age classes, "
            f"simulate.age_class_edges defines {ages.sizes['age_class']}"
        )
    if list(source["pft_group"].values) != list(GROUPS):
        raise DataError(f"the process-model file's pft_group must be {list(GROUPS)}")
    out = source[needed].transpose(
        "pft_group", "age_class", "time", "latitude", "longitude", "year", missing_dims="ignore"
    )
    out = out.assign_coords({k: ages[k] for k in ("age_class", "age_lower", "age_upper", "age_mid")})
    out = xr.Dataset({v: out[v].astype("float32") for v in needed})
    out["land_mask"] = (
        source["land_mask"].astype(bool) if "land_mask" in source else out["age_weight"].notnull().all("age_class")
    )
    return out
