"""Config checks that need the sources' facts, run when the workflow starts (after :func:`terraflux.config.validate`).

Each check raises a :class:`~terraflux.errors.ConfigError` naming the key to change:

- known variable names (``sources.era5_land.variables``, ``sources.cerra.variables``, ``forecast_variables``);
- accumulated ERA5-Land variables need every hour: the prepare step turns an accumulation since 00 UTC into
  hourly increments ``A(h) - A(h - 1)`` (each needs the hour before it, 00 UTC the 23 UTC of the day before)
  and a day's total is its 24 increments (:mod:`terraflux.prepare.era5_land`), so ``sources.era5_land.hours``
  must hold 0..23 when ``variables`` has an accumulated field (hourly product; instantaneous fields take any
  hours: their daily value is the mean of the hours requested);
- the region holds at least one ERA5-Land grid point (0.1 degree spacing);
- the period lies inside the record of every source a download run acquires (:func:`records`);
- config ``prepare.plausibility`` names known variables and ranges with low < high.

Kept out of :mod:`terraflux.config` so that the core modules every script imports do not import the sources.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from terraflux.errors import ConfigError
from terraflux.sources import cerra, era5_land, vhp

#: The plausibility tables per source, under their config key ``prepare.plausibility.<source>``.
PLAUSIBLE = {"era5_land": era5_land.PLAUSIBLE, "cerra": cerra.PLAUSIBLE, "vhp": vhp.PLAUSIBLE}
ALL_HOURS = list(range(24))


def check_config(config: Mapping[str, Any], today: dt.date | None = None) -> None:
    """Raise :class:`ConfigError` for the first problem of a validated ``config`` (see the module docstring);
    ``today`` (default: the current date) bounds the records that run to the present."""
    sources = config["sources"]
    variables = era5_land.variables(sources["era5_land"]["variables"])
    for key in ("variables", "forecast_variables"):
        cerra.variables(sources["cerra"][key], f"sources.cerra.{key}")
    _check_hours(sources["era5_land"], variables)
    _check_grid_point(config["region"])
    if config["run"]["origin"] == "download":
        _check_records(config, today or dt.date.today())
    _check_plausibility(config["prepare"]["plausibility"])


def _check_hours(settings: Mapping[str, Any], variables: list[era5_land.Variable]) -> None:
    accumulated = [v.request for v in variables if v.short in era5_land.ACCUMULATED]
    if settings["product"] == "hourly" and accumulated and sorted(settings["hours"]) != ALL_HOURS:
        missing = sorted(set(ALL_HOURS) - set(settings["hours"]))
        raise ConfigError(
            f"'sources.era5_land.variables' holds accumulated fields {accumulated}, but 'sources.era5_land.hours' "
            f"lacks hours {missing}: an accumulation since 00 UTC becomes a daily total only from all 24 hourly "
            "values (each hour's increment needs the hour before it). Request every hour (remove "
            "'sources.era5_land.hours'), drop those variables, or use 'sources.era5_land.product: daily'."
        )


def _check_grid_point(region: Mapping[str, Any]) -> None:
    step = era5_land.STEP

    def has_point(low: float, high: float) -> bool:
        return math.floor(high / step + 1e-6) >= math.ceil(low / step - 1e-6)

    if not (has_point(region["south"], region["north"]) and has_point(region["west"], region["east"])):
        raise ConfigError(
            f"'region' ({region['south']}..{region['north']} N, {region['west']}..{region['east']} E) holds no "
            f"ERA5-Land grid point (every {step} degrees): widen 'region.north'/'region.south' or "
            "'region.west'/'region.east'."
        )


def records(config: Mapping[str, Any]) -> dict[str, tuple[int, str]]:
    """The sources a download run acquires with a fixed record: ``{source: (first whole year, record start)}``.

    ERA5-Land, NOAA VHP and (when ``sources.cerra.enabled``) CERRA; land cover takes the nearest year with a
    map (:func:`terraflux.sources.land_cover.map_year`), in-situ data have no fixed record. The prepare step
    needs whole years, so a record that starts within a year starts with the next one.
    """
    out = {
        "ERA5-Land": (era5_land.FIRST_YEAR, f"January {era5_land.FIRST_YEAR}"),
        "NOAA VHP": (vhp.FIRST_WEEK[0] + (vhp.FIRST_WEEK[1] > 1), f"week {vhp.FIRST_WEEK[1]} of {vhp.FIRST_WEEK[0]}"),
    }
    if config["sources"]["cerra"]["enabled"]:
        year, month = cerra.FIRST_MONTH
        out["CERRA"] = (year + (month > 1), f"{dt.date(year, month, 1):%B %Y}")
    return out


def _check_records(config: Mapping[str, Any], today: dt.date) -> None:
    start, end = config["period"]["start_year"], config["period"]["end_year"]
    acquired = records(config)
    problems, first_years = [], []
    for source, (first, since) in acquired.items():
        early = [year for year in range(start, end + 1) if year < first]
        late = [year for year in range(start, end + 1) if year > today.year]
        if early or late:
            lacks = " and ".join(_span(years) for years in (early, late) if years)
            problems.append(f"{source} lacks {lacks} (its record runs from {since} to the present)")
            first_years.append(first)
    if not problems:
        return
    advice = []
    if start < max(first_years):
        advice.append(
            f"set 'period.start_year' to {max(first_years)} or later (with the years of 'period.train_years', "
            "'val_years' and 'test_years' inside the period)"
        )
    if end > today.year:
        advice.append(f"set 'period.end_year' to {today.year} or earlier")
    others = [first for source, (first, _) in acquired.items() if source != "CERRA"]
    if "CERRA" in acquired and start < acquired["CERRA"][0] and start >= max(others):
        advice.append("or leave CERRA out ('sources.cerra.enabled: false', and cerra out of 'ide.datasets')")
    text = ", ".join(advice)
    raise ConfigError(
        f"'period' ({start}..{end}) asks for years the services do not have: {'; '.join(problems)}. "
        f"{text[0].upper()}{text[1:]}."
    )


def _span(years: list[int]) -> str:
    """``[1981, 1982, 1983]`` -> ``'1981-1983'`` (years in order, without gaps), ``[1981]`` -> ``'1981'``."""
    return str(years[0]) if len(years) == 1 else f"{years[0]}-{years[-1]}"


def _check_plausibility(settings: Mapping[str, Any]) -> None:
    for source, table in PLAUSIBLE.items():
        for name, (low, high) in (settings.get(source) or {}).items():
            key = f"prepare.plausibility.{source}.{name}"
            if name not in table:
                raise ConfigError(f"'{key}': {name} is not a {source} variable with a range; known: {sorted(table)}.")
            if not low < high:
                raise ConfigError(f"'{key}' is [{low}, {high}]; it must be [low, high] with low < high.")
