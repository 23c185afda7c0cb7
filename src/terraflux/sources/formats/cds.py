"""Request fields shared by the Climate Data Store datasets (ERA5-Land, CERRA, land cover).

The CDS writes days as ``'01'..'31'``, times as ``'HH:00'`` and the ``area`` as [N, W, S, E] in degrees
(CDS API request documentation, https://cds.climate.copernicus.eu/how-to-api).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from typing import Any


def area(region: Mapping[str, Any]) -> list[float]:
    """The CDS ``area`` [N, W, S, E] of config ``region`` (degrees)."""
    return [float(region["north"]), float(region["west"]), float(region["south"]), float(region["east"])]


def days(year: int, month: int) -> list[str]:
    """The valid days of a month as the CDS writes them ('01'..'31')."""
    return [f"{day:02d}" for day in range(1, calendar.monthrange(year, month)[1] + 1)]


def times(hours: list[int]) -> list[str]:
    """UTC hours as the CDS writes them ('00:00'..'23:00')."""
    return [f"{hour:02d}:00" for hour in hours]
