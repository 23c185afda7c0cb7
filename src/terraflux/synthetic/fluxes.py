"""The hidden flux parameterisation: the synthetic world's TRUE carbon fluxes.

Deliberately different in form and parameters from the light-use-efficiency process model that the
workflow runs (``terraflux.simulate``), so that the process model is realistically biased and in-situ
data are needed to correct it. Hourly, per PFT group p (BL, NL, GS; ``other`` has no fluxes):

- GPP = canopy_p * f_age_p * Pmax_p * a_p PAR / (a_p PAR + Pmax_p)        (rectangular hyperbola)
        * exp(-((T - Topt_p) / w_p)^2) * exp(-k_p max(VPD - 8 hPa, 0)) * f_soil(theta)^0.5
  canopy: logistic in the climatological temperature 20 days earlier (deciduous BL leaf-out, NL
  winter dormancy, GS green-up under snow); f_age = (1 - exp(-age / 12)) (1 - 0.25 age / (age + 120))
- Ra  = 0.25 GPP + rm_p canopy 2^((T - 15) / 10)                         (growth + maintenance)
- Rh  = rh_p c_age exp(309 (1/56.02 - 1/(Ts - 227.13))) exp(-((theta_rel - 0.65)/0.35)^2)   (Lloyd-Taylor)
- RECO = Ra + Rh, NEE = RECO - GPP.
Units: umol CO2 m-2 s-1 (hourly means); T, Ts in K in the inputs; theta volumetric (m3 m-3).
"""

from __future__ import annotations

from terraflux.synthetic.land import PFTS

import numpy as np

GROUPS = PFTS[:3]
PARAMS = {
    #      Pmax  alpha  Topt  width  k_vpd  rm    rh    canopy (threshold degC, width, floor)
    "BL": (28.0, 0.045, 22.0, 11.0, 0.035, 0.5, 1.0, (8.0, 1.5, 0.05)),
    "NL": (22.0, 0.035, 18.0, 12.0, 0.025, 0.4, 0.9, (3.0, 2.0, 0.55)),
    "GS": (20.0, 0.050, 24.0, 10.0, 0.040, 0.3, 1.0, (6.0, 2.0, 0.10)),
}


def group_fluxes(
    weather, group: str, age: np.ndarray | float, factor: np.ndarray | float = 1.0
) -> dict[str, np.ndarray]:
    """True GPP, RECO, NEE (umol m-2 s-1, float32 [T, P]) of one PFT group at the weather's points.

    ``age``: forest age, years ([P] or scalar; ignored for GS); ``factor``: per-point multiplier of the
    productivity and respiration parameters (site heterogeneity).
    """
    pmax, alpha, topt, width, k_vpd, rm, rh, (c_thr, c_w, c_floor) = PARAMS[group]
    d = _drivers(weather)
    t = d["t"]
    canopy = c_floor + (1 - c_floor) * weather.pheno(c_thr, c_w)
    if group == "GS":
        canopy = canopy * (1 - weather.snow())
        f_age = np.float32(1.0)
        c_age = np.float32(1.0)
    else:
        age = np.asarray(age, dtype=np.float32)
        f_age = (1 - np.exp(-age / np.float32(12.0))) * (1 - np.float32(0.25) * age / (age + np.float32(120.0)))
        c_age = np.float32(0.7) + np.float32(0.3) * np.minimum(age, np.float32(100.0)) / np.float32(100.0)
    factor = np.asarray(factor, dtype=np.float32)
    pmax = np.float32(pmax) * factor
    a_par = np.float32(alpha) * d["par"]
    light = pmax * a_par / (a_par + pmax)
    f_t = np.exp(-np.square((t - np.float32(topt)) / np.float32(width)))
    f_vpd = np.exp(np.float32(-k_vpd) * d["vpd_excess"])
    gpp = canopy * f_age * light * f_t * f_vpd * d["f_soil"]
    ra = np.float32(0.25) * gpp + np.float32(rm) * canopy * d["q10"]
    rh_flux = np.float32(rh) * factor * c_age * d["rh_response"]
    reco = ra + rh_flux
    return {"GPP": gpp.astype(np.float32), "RECO": reco.astype(np.float32), "NEE": (reco - gpp).astype(np.float32)}


def _drivers(weather) -> dict[str, np.ndarray]:
    """Responses shared by all groups (cached on the weather object), float32 [T, P]."""
    cache = weather._cache
    if "_flux_drivers" not in cache:
        t = weather.get("t2m") - np.float32(273.15)
        ts = weather.get("stl1")
        theta = weather.get("swvl1")
        rel = np.clip(theta / np.float32(0.45), 0.0, 1.0)
        lloyd_taylor = np.exp(
            np.float32(309.0) * (np.float32(1.0 / 56.02) - 1.0 / np.maximum(ts - np.float32(227.13), 1.0))
        )
        cache["_flux_drivers"] = {
            "t": t,
            "par": weather.get("ssrd") * np.float32(2.0 / 3600.0),  # umol photons m-2 s-1 from J m-2 per hour
            "vpd_excess": np.maximum(weather.get("vpd") - np.float32(8.0), 0.0),
            "f_soil": np.sqrt(np.clip((theta - np.float32(0.10)) / np.float32(0.22), 0.0, 1.0)),
            "q10": np.exp2((t - np.float32(15.0)) / np.float32(10.0)),
            "rh_response": lloyd_taylor * np.exp(-np.square((rel - np.float32(0.65)) / np.float32(0.35))),
        }
    return cache["_flux_drivers"]


def cell_fluxes(weather, fractions: np.ndarray, age: np.ndarray) -> dict[str, np.ndarray]:
    """Cell-mean true fluxes [T, P]: the PFT-fraction-weighted sum (``other`` contributes nothing).
    ``fractions``: [4, P]; ``age``: forest age [P]."""
    out = {k: np.zeros(weather.base_shape, dtype=np.float32) for k in ("GPP", "RECO", "NEE")}
    for g, group in enumerate(GROUPS):
        if not np.any(fractions[g] > 0):
            continue
        flux = group_fluxes(weather, group, age)
        for k in out:
            out[k] += flux[k] * fractions[g][None, :]
    return out
