"""Variable tables: CDS request names, file short names and the GRIB attributes the files carry.

Facts from SOURCES.md (name map) and the ECMWF parameter database (paramId, GRIB shortName, units).
"""

from __future__ import annotations

from dataclasses import dataclass

from terraflux.errors import ConfigError


@dataclass(frozen=True)
class Era5Var:
    """One ERA5-Land variable as the new CDS NetCDF carries it."""

    request: str      # CDS long name (config sources.era5_land.variables)
    short: str        # NetCDF variable name
    param_id: int     # GRIB_paramId
    grib_short: str   # GRIB_shortName
    name: str         # long_name / GRIB_name
    units: str        # units / GRIB_units
    step_type: str    # 'instant' or 'accum' (accumulated from 00 UTC)


ERA5_LAND = [
    Era5Var("2m_temperature", "t2m", 167, "2t", "2 metre temperature", "K", "instant"),
    Era5Var("2m_dewpoint_temperature", "d2m", 168, "2d", "2 metre dewpoint temperature", "K", "instant"),
    Era5Var("skin_temperature", "skt", 235, "skt", "Skin temperature", "K", "instant"),
    Era5Var("surface_pressure", "sp", 134, "sp", "Surface pressure", "Pa", "instant"),
    Era5Var("10m_u_component_of_wind", "u10", 165, "10u", "10 metre U wind component", "m s**-1", "instant"),
    Era5Var("10m_v_component_of_wind", "v10", 166, "10v", "10 metre V wind component", "m s**-1", "instant"),
    Era5Var("total_precipitation", "tp", 228, "tp", "Total precipitation", "m", "accum"),
    Era5Var("surface_solar_radiation_downwards", "ssrd", 169, "ssrd", "Surface short-wave (solar) radiation downwards", "J m**-2", "accum"),
    Era5Var("surface_thermal_radiation_downwards", "strd", 175, "strd", "Surface long-wave (thermal) radiation downwards", "J m**-2", "accum"),
    Era5Var("surface_net_solar_radiation", "ssr", 176, "ssr", "Surface net short-wave (solar) radiation", "J m**-2", "accum"),
    Era5Var("surface_net_thermal_radiation", "str", 177, "str", "Surface net long-wave (thermal) radiation", "J m**-2", "accum"),
    Era5Var("surface_latent_heat_flux", "slhf", 147, "slhf", "Time-integrated surface latent heat net flux", "J m**-2", "accum"),
    Era5Var("surface_sensible_heat_flux", "sshf", 146, "sshf", "Time-integrated surface sensible heat net flux", "J m**-2", "accum"),
    Era5Var("total_evaporation", "e", 182, "e", "Total evaporation", "m of water equivalent", "accum"),
    Era5Var("potential_evaporation", "pev", 228251, "pev", "Potential evaporation", "m", "accum"),
    Era5Var("runoff", "ro", 205, "ro", "Runoff", "m", "accum"),
    Era5Var("volumetric_soil_water_layer_1", "swvl1", 39, "swvl1", "Volumetric soil water layer 1", "m**3 m**-3", "instant"),
    Era5Var("volumetric_soil_water_layer_2", "swvl2", 40, "swvl2", "Volumetric soil water layer 2", "m**3 m**-3", "instant"),
    Era5Var("volumetric_soil_water_layer_3", "swvl3", 41, "swvl3", "Volumetric soil water layer 3", "m**3 m**-3", "instant"),
    Era5Var("volumetric_soil_water_layer_4", "swvl4", 42, "swvl4", "Volumetric soil water layer 4", "m**3 m**-3", "instant"),
    Era5Var("soil_temperature_level_1", "stl1", 139, "stl1", "Soil temperature level 1", "K", "instant"),
    Era5Var("soil_temperature_level_2", "stl2", 170, "stl2", "Soil temperature level 2", "K", "instant"),
    Era5Var("soil_temperature_level_3", "stl3", 183, "stl3", "Soil temperature level 3", "K", "instant"),
    Era5Var("soil_temperature_level_4", "stl4", 236, "stl4", "Soil temperature level 4", "K", "instant"),
    Era5Var("leaf_area_index_high_vegetation", "lai_hv", 66, "lai_hv", "Leaf area index, high vegetation", "m**2 m**-2", "instant"),
    Era5Var("leaf_area_index_low_vegetation", "lai_lv", 67, "lai_lv", "Leaf area index, low vegetation", "m**2 m**-2", "instant"),
    Era5Var("snow_depth_water_equivalent", "sd", 141, "sd", "Snow depth", "m of water equivalent", "instant"),
    Era5Var("forecast_albedo", "fal", 243, "fal", "Forecast albedo", "(0 - 1)", "instant"),
]
ERA5_BY_REQUEST = {v.request: v for v in ERA5_LAND}
ERA5_BY_SHORT = {v.short: v for v in ERA5_LAND}


def era5_vars(requests: list[str]) -> list[Era5Var]:
    """The table rows of the configured CDS names, in config order; unknown names are a ConfigError."""
    unknown = [r for r in requests if r not in ERA5_BY_REQUEST]
    if unknown:
        raise ConfigError(
            f"'sources.era5_land.variables' holds {unknown}, which the synthetic world cannot generate. "
            f"Known: {sorted(ERA5_BY_REQUEST)}."
        )
    return [ERA5_BY_REQUEST[r] for r in requests]


def era5_short_names(requests: list[str]) -> list[str]:
    return [v.short for v in era5_vars(requests)]


@dataclass(frozen=True)
class CerraVar:
    """One CERRA single-level variable: the weather quantity it is made of and its GRIB2 coding."""

    request: str
    short: str      # cfgrib variable name
    param_id: int
    type_of_level: str  # eccodes typeOfLevel
    level: int
    source: str     # quantity of terraflux.synthetic.weather
    scale: float    # multiply the quantity by this (e.g. fraction -> %)


CERRA = [
    CerraVar("2m_temperature", "t2m", 167, "heightAboveGround", 2, "t2m", 1.0),
    CerraVar("2m_relative_humidity", "r2", 260242, "heightAboveGround", 2, "rh", 100.0),
    CerraVar("surface_pressure", "sp", 134, "surface", 0, "sp", 1.0),
    CerraVar("total_cloud_cover", "tcc", 228164, "entireAtmosphere", 0, "cloud", 100.0),
    CerraVar("albedo", "al", 260509, "surface", 0, "fal", 100.0),
    CerraVar("volumetric_soil_moisture", "vsw", 260199, "surface", 0, "swvl1", 1.0),
    CerraVar("skin_temperature", "skt", 235, "surface", 0, "skt", 1.0),
    CerraVar("10m_wind_speed", "si10", 207, "heightAboveGround", 10, "wind", 1.0),
    CerraVar("total_precipitation", "tp", 228228, "surface", 0, "tp", 1000.0),
]
CERRA_BY_REQUEST = {v.request: v for v in CERRA}


def cerra_vars(requests: list[str], key: str) -> list[CerraVar]:
    unknown = [r for r in requests if r not in CERRA_BY_REQUEST]
    if unknown:
        raise ConfigError(
            f"'{key}' holds {unknown}, which the synthetic world cannot generate. Known: {sorted(CERRA_BY_REQUEST)}."
        )
    return [CERRA_BY_REQUEST[r] for r in requests]
