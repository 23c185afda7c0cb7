"""The weekly calendar of the IDE stores: 52 weeks per year, week 52 holds days 358..366.

week of year = min((doy - 1) // 7 + 1, 52); a week's ``time`` is its first day. Weeks are indexed globally
from the first year of the period: index = (year - start_year) * 52 + week - 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

WEEKS_PER_YEAR = 52


def week_of_year(times) -> np.ndarray:
    """Week number 1..52 of each timestamp (array-like of datetimes)."""
    doy = pd.DatetimeIndex(times).day_of_year.to_numpy()
    return np.minimum((doy - 1) // 7 + 1, WEEKS_PER_YEAR)


def week_index(times, start_year: int) -> np.ndarray:
    """Global week index of each timestamp, counted from 1 January of ``start_year``."""
    index = pd.DatetimeIndex(times)
    return (index.year.to_numpy() - start_year) * WEEKS_PER_YEAR + week_of_year(index) - 1


def week_starts(start_year: int, end_year: int) -> pd.DatetimeIndex:
    """First day of every week of the years (52 per year)."""
    days = [
        pd.Timestamp(year, 1, 1) + pd.Timedelta(days=7 * w)
        for year in range(start_year, end_year + 1)
        for w in range(WEEKS_PER_YEAR)
    ]
    return pd.DatetimeIndex(days)


def week_last_day(index: int, start_year: int) -> pd.Timestamp:
    """Last day of the week with global ``index`` (day 364 of the year, or the year's last day for week 52)."""
    year, week = divmod(index, WEEKS_PER_YEAR)
    year += start_year
    if week == WEEKS_PER_YEAR - 1:
        return pd.Timestamp(year, 12, 31)
    return pd.Timestamp(year, 1, 1) + pd.Timedelta(days=7 * week + 6)
