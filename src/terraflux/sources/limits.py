"""Physical limits of the gridded variables: the plausible range of each quantity, with the reason for its bounds.

The sources' ``PLAUSIBLE`` tables (:mod:`terraflux.sources.era5_land`, :mod:`~terraflux.sources.cerra`,
:mod:`~terraflux.sources.vhp`) map each variable to one of these ranges, in the units of its files; the prepare
step stops on values outside them (:mod:`terraflux.prepare.plausibility`). The bounds are wide on purpose: they
sit beyond the extremes ever observed, so that real data always pass, and they catch values in other units or
scales (degC labelled K, hPa labelled Pa, percent labelled as a fraction, millimetres labelled metres).

Records of observed extremes: WMO Archive of Weather and Climate Extremes (https://wmo.asu.edu), unless
another source is named.
"""

from __future__ import annotations

from typing import NamedTuple

#: Seconds in a day (accumulations of the sources cover at most one day).
DAY_S = 86_400.0


class Range(NamedTuple):
    """Plausible values of one quantity: ``low <= value <= high`` in ``units``, and why."""

    low: float
    high: float
    units: str
    reason: str

    def scaled(self, factor: float, units: str) -> Range:
        """The same range in other units (``value x factor``)."""
        return Range(self.low * factor, self.high * factor, units, self.reason)


TEMPERATURE = Range(
    160.0,
    350.0,
    "K",
    "beyond the coldest surface temperature observed, about -98 degC = 175 K on the East Antarctic plateau "
    "(Scambos et al., Geophysical Research Letters 45, 2018), and the hottest land surface temperature observed, "
    "70.7 degC = 344 K in the Lut desert (Mildrexler et al., Bulletin of the AMS 92, 2011)",
)
SURFACE_PRESSURE = Range(
    30_000.0,
    110_000.0,
    "Pa",
    "beyond the pressure on the summit of Mount Everest (about 33 000 Pa) and the highest sea-level pressure "
    "observed, 108 480 Pa (Tosontsengel, Mongolia, 2001)",
)
WIND_COMPONENT = Range(
    -100.0,
    100.0,
    "m s**-1",
    "beyond the strongest surface gust observed, 113 m s-1 (Barrow Island, Australia, 1996)",
)
WIND_SPEED = Range(0.0, 100.0, "m s**-1", WIND_COMPONENT.reason)
PRECIPITATION_DAY = Range(
    0.0,
    2.0,
    "m",
    "accumulated over at most one day: beyond the 24-hour rainfall record, 1.825 m (Foc-Foc, La Reunion, 1966)",
)
RUNOFF_DAY = Range(
    0.0,
    2.0,
    "m",
    "accumulated over at most one day: the water of a day's rain and snowmelt, below the 24-hour rainfall record "
    "(1.825 m)",
)
EVAPORATION_DAY = Range(
    -0.05,
    0.01,
    "m",
    "accumulated over at most one day, negative upward (ECMWF convention): evaporation stays below about 15 mm "
    "a day even from open water in deserts, dew deposition below a few mm",
)
POTENTIAL_EVAPORATION_DAY = Range(
    -0.1,
    0.02,
    "m",
    "accumulated over at most one day, negative upward (ECMWF convention): the evaporative demand of the hottest, "
    "driest surfaces stays below about 30 mm a day",
)
SOLAR_DAY = Range(
    0.0,
    5.0e7,
    "J m**-2",
    "accumulated over at most one day: at most the top-of-atmosphere insolation, whose daily total peaks at about "
    "4.8e7 J m-2 (pole at the December solstice, total solar irradiance 1361 W m-2: Kopp and Lean, Geophysical "
    "Research Letters 38, 2011)",
)
THERMAL_DOWN_DAY = Range(
    0.0,
    6.0e7,
    "J m**-2",
    "accumulated over at most one day: below the emission of a black body at 330 K (about 670 W m-2 all day)",
)
THERMAL_NET_DAY = Range(
    -7.5e7,
    6.0e7,
    "J m**-2",
    "accumulated over at most one day: the upward emission of a surface at 350 K at most (about 850 W m-2) "
    "against at most the downward flux of a black body at 330 K",
)
TURBULENT_FLUX_DAY = Range(
    -9.0e7,
    9.0e7,
    "J m**-2",
    "accumulated over at most one day: a day's mean latent or sensible heat flux stays within +-1000 W m-2, the "
    "largest net radiation at the surface",
)
VOLUME_FRACTION = Range(0.0, 1.0, "m**3 m**-3", "a volume fraction (water per volume of soil)")
LEAF_AREA_INDEX = Range(
    0.0,
    15.0,
    "m**2 m**-2",
    "leaf area per ground area: beyond the leaf area index of the densest vegetation measured (global synthesis of "
    "field data: Asner et al., Global Ecology and Biogeography 12, 2003)",
)
SNOW_WATER_EQUIVALENT = Range(
    0.0,
    15.0,
    "m of water equivalent",
    "the IFS land surface model keeps glaciers as a snow pack of 10 m water equivalent (IFS documentation, "
    "Part IV: Physical processes)",
)
FRACTION = Range(0.0, 1.0, "1", "a fraction (0..1)")
PERCENT = Range(0.0, 100.0, "%", "a percentage (0..100)")
RELATIVE_HUMIDITY = Range(
    0.0, 110.0, "%", "relative humidity in percent, with room for the slight supersaturation of model output"
)
VEGETATION_INDEX = Range(
    0.0,
    100.0,
    "1",
    "the NOAA VHP condition and health indices are scaled to 0..100 by construction (Kogan, Advances in Space "
    "Research 15, 1995)",
)
