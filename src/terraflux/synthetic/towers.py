"""Flux-tower sites: placement, hourly observations with noise and gaps, and their two file layouts.

Sites sit in land cells with a clear dominant group (the tower's footprint is one ecosystem): the
site's PFT is the cell's dominant group, its IGBP class follows from it (BL -> DBF, NL -> ENF,
GS -> GRA or CRO at low elevation, mixed forest -> MF). Networks are assigned round robin.
A site's fluxes are the hidden parameterisation (:mod:`.fluxes`) for its PFT at its own point and
forest age, with a per-site parameter perturbation (site heterogeneity), then measurement noise
(Laplace, heteroscedastic) and gaps (random, more at night, plus a few gaps of weeks).

Files (written by :mod:`terraflux.sources.insitu.write`):
- CarbonSense v1: one period folder per site; targets hourly in umol CO2 m-2 s-1 (NaN = gap);
  predictors min-max normalised over all sites.
- FLUXNET2015 FULLSET: DD and MM files (version 1-4) of each site, fluxes in gC m-2 d-1 (means of daily
  sums of the gap-filled series), ``_QC`` = share of measured (non-gap) records; columns the world does
  not model stay -9999; the site list beside them.
"""

from __future__ import annotations

import re
from pathlib import Path

from terraflux.sources.insitu import MISSING, TARGET_COLUMNS, UMOL_CO2_TO_GC_PER_DAY, fullset_columns, write
from terraflux.synthetic.land import PFTS

import numpy as np
import pandas as pd

FLUXNET_VERSION = "1-4"
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


def draw_sites(world, rng: np.random.Generator) -> None:
    """Choose ``synthetic.n_sites`` sites into ``world.tables['sites']`` (list of dicts)."""
    spec, knobs = world.spec, world.spec.knobs
    grid = world.era5_grid
    frac = world.year_fractions(spec.years[0])
    land = world.land_mask & (frac[3] < 0.5)
    dominant = frac[:3].argmax(axis=0)
    share = frac[:3].max(axis=0)
    candidates = np.flatnonzero(land.ravel())
    if candidates.size == 0:
        world.tables["sites"] = []
        return
    # Prefer clearly dominated cells, spread over the three groups.
    weights = (share.ravel()[candidates] ** 4) + 1e-6
    per_group = []
    for g in (0, 1, 2):
        pool = candidates[dominant.ravel()[candidates] == g]
        if pool.size:
            w = weights[np.isin(candidates, pool)]
            per_group.append(
                list(
                    rng.choice(
                        pool, size=min(pool.size, int(np.ceil(knobs["n_sites"] / 3))), replace=False, p=w / w.sum()
                    )
                )
            )
    order = [
        cell
        for group in zip(*[g + [None] * (max(map(len, per_group)) - len(g)) for g in per_group], strict=True)
        for cell in group
        if cell is not None
    ]
    rest = np.setdiff1d(candidates, order)
    order.extend(rng.permutation(rest))
    chosen = (
        order[: knobs["n_sites"]] if len(order) >= knobs["n_sites"] else list(rng.choice(candidates, knobs["n_sites"]))
    )
    from terraflux.synthetic.land import elevation

    sites = []
    networks = knobs["networks"]
    nyears = len(spec.years)
    for n, cell in enumerate(chosen):
        iy, ix = np.unravel_index(int(cell), grid.shape)
        g = int(dominant[iy, ix])
        lat = float(grid.lat[iy] + rng.uniform(-0.035, 0.035))
        lon = float(grid.lon[ix] + rng.uniform(-0.035, 0.035))
        elev = float(elevation(world, np.array([lat]), np.array([lon]))[0])
        if g == 0:
            igbp = "DBF" if frac[1, iy, ix] < 0.25 else "MF"
        elif g == 1:
            igbp = "ENF" if frac[0, iy, ix] < 0.25 else "MF"
        else:
            igbp = "CRO" if elev < 900 and rng.uniform() < 0.5 else "GRA"
        first = spec.years[0] + (int(rng.integers(0, 2)) if nyears > 2 else 0)
        last = spec.years[-1] - (int(rng.integers(0, 2)) if nyears > 3 else 0)
        sites.append(
            {
                "site_id": f"SY-{LETTERS[n // len(LETTERS) % len(LETTERS)]}{LETTERS[n % len(LETTERS)].lower()}{n % 10}",
                "latitude": round(lat, 4),
                "longitude": round(lon, 4),
                "elevation": round(elev, 1),
                "pft": PFTS[g],
                "igbp": igbp,
                "network": networks[n % len(networks)],
                "cell_iy": int(iy),
                "cell_ix": int(ix),
                "cell_latitude": float(grid.lat[iy]),
                "cell_longitude": float(grid.lon[ix]),
                "age_offset": float(rng.normal(0, 8)),
                "param_factor": float(np.exp(rng.normal(0, 0.1))),
                "first_year": int(first),
                "last_year": int(last),
            }
        )
    world.tables["sites"] = sites


def site_hours(site: dict) -> np.ndarray:
    """Record start times of a site's hourly records (int64 hours since 1970), whole years."""
    start = (pd.Timestamp(f"{site['first_year']}-01-01") - pd.Timestamp("1970-01-01")) // pd.Timedelta(hours=1)
    end = (pd.Timestamp(f"{site['last_year'] + 1}-01-01") - pd.Timestamp("1970-01-01")) // pd.Timedelta(hours=1)
    return np.arange(start, end, dtype=np.int64)


def site_records(world, site: dict) -> pd.DataFrame:
    """Hourly truth, observations and meteorology of one site (records start at ``timestamp``).

    Columns: timestamp; GPP_true, RECO_true, NEE_true, NEE_obs (NaN = gap), NEE_filled (gap-filled),
    GPP_NT, GPP_DT, RECO_NT, RECO_DT (umol m-2 s-1, partitioned from NEE_filled); gap (bool);
    TA_F degC, SW_IN_F W m-2, LW_IN_F W m-2, VPD_F hPa, PA_F kPa, P_F mm, WS_F m s-1.
    """
    from terraflux.synthetic.fields import stage_rng
    from terraflux.synthetic.fluxes import group_fluxes
    from terraflux.synthetic.weather import Points, Weather

    knobs = world.spec.knobs
    rng = stage_rng(world.spec.seed, "towers", site["site_id"])
    starts = site_hours(site)
    points = Points(world, np.array([site["latitude"]]), np.array([site["longitude"]]))
    weather = Weather(points, starts + 1)  # the hour ending one hour after the record start
    years = pd.to_datetime(starts, unit="h").year.values
    ages = {
        y: float(world.arrays["forest_age"][world.spec.years.index(y), site["cell_iy"], site["cell_ix"]])
        for y in np.unique(years)
    }
    age = np.maximum(np.array([ages[y] for y in years]) + site["age_offset"], 1.0)[:, None].astype(np.float32)
    true = {k: v[:, 0] for k, v in group_fluxes(weather, site["pft"], age, site["param_factor"]).items()}
    n = starts.size
    night = weather.sw_down()[:, 0] <= 0
    # Gaps: hourly dropouts (more at night: u* filtering) plus a few gaps of one to five weeks.
    gap_fraction = float(knobs["gap_fraction"])
    p_hour = 0.7 * gap_fraction * np.where(night, 1.5, 0.5)
    gap = rng.uniform(size=n) < p_hour
    n_long = int(round(0.3 * gap_fraction * n / (24 * 21)))
    for _ in range(n_long):
        length = int(rng.integers(7 * 24, 35 * 24))
        first = int(rng.integers(0, max(n - length, 1)))
        gap[first : first + length] = True
    scale = float(knobs["flux_noise"]) * np.abs(true["NEE"]) + 0.3
    nee_meas = true["NEE"] + rng.laplace(0.0, scale)
    nee_filled = np.where(gap, true["NEE"] + rng.normal(0.0, 0.5 * scale), nee_meas)
    # Flux partitioning (night-time and day-time methods) with their own biases.
    gpp_nt = np.maximum(true["GPP"] * (1 + rng.normal(0, 0.05)) + rng.normal(0, 0.1, n) * (1 - night), 0.0)
    gpp_dt = np.maximum(true["GPP"] * (1 + rng.normal(0, 0.05)) + rng.normal(0, 0.1, n) * (1 - night), 0.0)
    met_noise = lambda s: rng.normal(0.0, s, n)  # noqa: E731
    records = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(starts, unit="h"),
            "GPP_true": true["GPP"],
            "RECO_true": true["RECO"],
            "NEE_true": true["NEE"],
            "NEE_obs": np.where(gap, np.nan, nee_meas),
            "NEE_filled": nee_filled,
            "GPP_NT": gpp_nt,
            "GPP_DT": gpp_dt,
            "RECO_NT": gpp_nt + nee_filled,
            "RECO_DT": gpp_dt + nee_filled,
            "gap": gap,
            "TA_F": weather.get("t2m")[:, 0] - 273.15 + met_noise(0.3),
            "SW_IN_F": np.maximum(weather.sw_down()[:, 0] * (1 + met_noise(0.03)), 0.0),
            "LW_IN_F": weather.get("strd")[:, 0] / 3600.0 + met_noise(5.0),
            "VPD_F": np.maximum(weather.get("vpd")[:, 0] + met_noise(0.2), 0.0),
            "PA_F": weather.get("sp")[:, 0] / 1000.0 + met_noise(0.05),
            "P_F": weather.get("tp")[:, 0] * 1000.0,
            "WS_F": np.maximum(weather.get("wind")[:, 0] + met_noise(0.2), 0.0),
        }
    )
    return records


# ---- CarbonSense v1 ---------------------------------------------------------------------------------
#: CarbonSense target column -> column of :func:`site_records`.
TARGETS = {
    "NEE_VUT_REF": "NEE_obs",
    "GPP_DT_VUT_REF": "GPP_DT",
    "GPP_NT_VUT_REF": "GPP_NT",
    "RECO_DT_VUT_REF": "RECO_DT",
    "RECO_NT_VUT_REF": "RECO_NT",
}
PREDICTORS = ["TA_F", "SW_IN_F", "LW_IN_F", "VPD_F", "PA_F", "P_F", "WS_F"]


def write_carbonsense(root: str | Path, world) -> list[Path]:
    """All sites in CarbonSense v1 layout under ``root``; returns the site period folders."""
    sites = world.tables["sites"]
    records = {s["site_id"]: site_records(world, s) for s in sites}
    allmet = pd.concat([r[PREDICTORS] for r in records.values()])
    lo, hi = allmet.min(), allmet.max()
    folders = []
    for site in sites:
        rec = records[site["site_id"]]
        gap = rec["gap"].to_numpy()
        targets = {column: np.where(gap, np.nan, rec[TARGETS[column]].to_numpy()) for column in TARGET_COLUMNS}
        predictors = {"DOY": (rec["timestamp"].dt.day_of_year - 1) / 365.0, "TOD": rec["timestamp"].dt.hour / 23.0}
        for column in PREDICTORS:
            predictors[column] = (rec[column] - lo[column]) / max(hi[column] - lo[column], 1e-9)
        folders.append(write.carbonsense_site(root, site, rec["timestamp"], targets, predictors))
    return folders


# ---- FLUXNET2015 FULLSET (DD, MM) ---------------------------------------------------------------------
def _aggregate(rec: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Daily or monthly aggregates: fluxes in gC m-2 d-1 (means of daily sums), coverage of measured
    records, meteorology means (P_F: mm d-1), night/day NEE means."""
    rec = rec.set_index("timestamp")
    groups = rec.groupby(rec.index.to_period(freq))
    out = pd.DataFrame(index=groups.size().index)
    for column in ("NEE_filled", "GPP_NT", "GPP_DT", "RECO_NT", "RECO_DT"):
        out[column] = groups[column].mean() * UMOL_CO2_TO_GC_PER_DAY
    out["coverage"] = 1.0 - groups["gap"].mean()
    night = rec["SW_IN_F"] <= 0
    to_gc = UMOL_CO2_TO_GC_PER_DAY
    out["NEE_night"] = rec["NEE_filled"][night].groupby(rec.index[night].to_period(freq)).mean() * to_gc
    out["NEE_day"] = rec["NEE_filled"][~night].groupby(rec.index[~night].to_period(freq)).mean() * to_gc
    out["NIGHT_D"] = (rec["SW_IN_F"] <= 0).groupby(rec.index.to_period(freq)).mean() * 24
    out["DAY_D"] = 24 - out["NIGHT_D"]
    for column in ("TA_F", "SW_IN_F", "LW_IN_F", "VPD_F", "PA_F", "WS_F"):
        out[column] = groups[column].mean()
    out["P_F"] = groups["P_F"].sum() / groups.size() * 24
    return out


PERCENTILE_Z = {"05": -1.645, "16": -0.994, "25": -0.674, "50": 0.0, "75": 0.674, "84": 0.994, "95": 1.645}


def _fluxnet_columns(agg: pd.DataFrame, columns: list[str], rng: np.random.Generator) -> dict:
    """Values of the FULLSET ``columns`` the world models, from aggregates (:func:`_aggregate`), in file units."""
    n = len(agg)
    out: dict = {}
    nee = agg["NEE_filled"].to_numpy()
    sd = 0.05 * np.abs(nee) + 0.05
    cov = agg["coverage"].to_numpy()
    partition = {
        ("GPP", "NT"): agg["GPP_NT"],
        ("GPP", "DT"): agg["GPP_DT"],
        ("RECO", "NT"): agg["RECO_NT"],
        ("RECO", "DT"): agg["RECO_DT"],
    }
    met = {"TA": "TA_F", "SW_IN": "SW_IN_F", "LW_IN": "LW_IN_F", "VPD": "VPD_F", "PA": "PA_F", "P": "P_F", "WS": "WS_F"}
    for column in columns[1:]:
        m = re.fullmatch(r"NEE_(CUT|VUT)_(REF|USTAR50|MEAN|\d\d)(_QC)?", column)
        if m:
            z = PERCENTILE_Z.get(m.group(2), 0.0)
            out[column] = cov if m.group(3) else nee + z * sd + (0.01 if m.group(1) == "CUT" else 0.0)
            continue
        m = re.fullmatch(r"NEE_(CUT|VUT)_(REF|USTAR50|MEAN)_(RANDUNC|JOINTUNC|SE)", column) or re.fullmatch(
            r"NEE_(CUT|VUT)_(SE)", column
        )
        if m:
            out[column] = sd
            continue
        m = re.fullmatch(r"NEE_(CUT|VUT)_REF_(NIGHT|DAY)(_QC|_SD)?", column)
        if m:
            value = agg["NEE_night" if m.group(2) == "NIGHT" else "NEE_day"].fillna(MISSING).to_numpy()
            out[column] = cov if m.group(3) == "_QC" else (sd if m.group(3) == "_SD" else value)
            continue
        m = re.fullmatch(r"(GPP|RECO)_(NT|DT)_(CUT|VUT)_(REF|USTAR50|MEAN|SE|\d\d)", column)
        if m:
            base = partition[(m.group(1), m.group(2))].to_numpy()
            psd = 0.05 * np.abs(base) + 0.05
            out[column] = psd if m.group(4) == "SE" else base + PERCENTILE_Z.get(m.group(4), 0.0) * psd
            continue
        m = re.fullmatch(r"(TA|SW_IN|LW_IN|VPD|PA|P|WS)_(F|F_MDS|ERA)(_QC)?", column)
        if m:
            value = agg[met[m.group(1)]].to_numpy()
            if m.group(3):
                out[column] = np.clip(cov + 0.1, 0, 1) if m.group(2) != "ERA" else MISSING
            else:
                out[column] = value * (1 + rng.normal(0, 0.02, n)) if m.group(2) == "ERA" else value
            continue
        if column in ("NIGHT_D", "DAY_D"):
            out[column] = agg[column].to_numpy()
    return out


def write_fluxnet(root: str | Path, world) -> list[Path]:
    """All sites as FLUXNET2015 FULLSET DD and MM files under ``root`` with the site list; returns the files."""
    from terraflux.synthetic.fields import stage_rng

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    columns = fullset_columns()
    files = []
    for site in world.tables["sites"]:
        rec = site_records(world, site)
        rng = stage_rng(world.spec.seed, "fluxnet", site["site_id"])
        for resolution, freq in (("DD", "D"), ("MM", "M")):
            agg = _aggregate(rec, freq)
            files.append(
                write.fluxnet_file(
                    root,
                    site,
                    resolution,
                    site["first_year"],
                    site["last_year"],
                    FLUXNET_VERSION,
                    agg.index,
                    _fluxnet_columns(agg, columns, rng),
                )
            )
    files.append(write.site_list(root, world.tables["sites"]))
    return files
