"""The weekly store shared by ERA5-Land and CERRA: variables, streaming writer and training climatology.

Per variable ``v``: ``{v}_mean``, ``{v}_std`` over ``(time, <y>, <x>)`` (weeks of :mod:`.weeks`) and
``{v}_mean_clim``, ``{v}_std_clim`` over ``(week_of_year, <y>, <x>)``: mean and standard deviation over the
training years of ``{v}_mean``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

from terraflux.prepare import stores, weeks
from terraflux.prepare.moments import Moments

import numpy as np
import zarr

CHUNKS = {"time": 8, "latitude": 64, "longitude": 64, "y": 64, "x": 64, "week_of_year": 52}


def coords(start_year: int, end_year: int) -> dict:
    """Time coordinates of a weekly store: ``time`` (first day of each week), ``year``, ``week``, ``week_of_year``."""
    starts = weeks.week_starts(start_year, end_year)
    return {
        "time": (("time",), starts.values, {"standard_name": "time", "long_name": "first day of the week"}),
        "year": (("time",), starts.year.to_numpy().astype(np.int32), {}),
        "week": (("time",), np.tile(np.arange(1, 53, dtype=np.int32), end_year - start_year + 1), {}),
        "week_of_year": (("week_of_year",), np.arange(1, 53, dtype=np.int32), {}),
    }


def variables(names_attrs: Mapping[str, dict], space: tuple[str, str]) -> dict:
    """Store variables for each name (with its CF attributes) on the spatial dims ``space``."""
    out = {}
    for name, attrs in names_attrs.items():
        dims = ("time", *space)
        out[f"{name}_mean"] = stores.variable(dims, {**attrs, "cell_methods": "time: mean (weekly)"})
        out[f"{name}_std"] = stores.variable(dims, {**attrs, "cell_methods": "time: standard_deviation (weekly)"})
        clim = ("week_of_year", *space)
        out[f"{name}_mean_clim"] = stores.variable(clim, {**attrs, "long_name": f"training-years mean of {name}_mean"})
        out[f"{name}_std_clim"] = stores.variable(clim, {**attrs, "long_name": f"training-years std of {name}_mean"})
    return out


class WeeklyWriter:
    """Collects partial weekly moments from months (in order) and writes each week once it is complete.

    ``years`` ``(first, last)``: the years this writer fills (default the whole period), one part of a store
    filled by several jobs (:class:`~.stores.TimeChunkWriter` ``region``; the shared chunks in :attr:`edges`).
    """

    def __init__(
        self, group: zarr.Group, names: list[str], start_year: int, end_year: int, years: tuple[int, int] = None
    ):
        self.names = list(names)
        self.start_year = start_year
        self.pending: dict[int, dict[str, Moments]] = {}
        total = weeks.WEEKS_PER_YEAR * (end_year - start_year + 1)
        first, last = years if years is not None else (start_year, end_year)
        region = (weeks.WEEKS_PER_YEAR * (first - start_year), weeks.WEEKS_PER_YEAR * (last - start_year + 1))
        columns = [f"{n}_{s}" for n in self.names for s in ("mean", "std")]
        self.writer = stores.TimeChunkWriter(group, columns, CHUNKS["time"], total, region)

    @property
    def edges(self) -> list:
        """Slices of the chunks shared with another part (:attr:`~.stores.TimeChunkWriter.edges`)."""
        return self.writer.edges

    def add(self, partial: Mapping[int, Mapping[str, Moments]], last_day) -> None:
        """Merge one month's partial moments; write every week that ends on or before ``last_day``."""
        for key, per_var in partial.items():
            slot = self.pending.setdefault(key, {})
            for name, mom in per_var.items():
                slot[name] = mom if name not in slot else slot[name].combine(mom)
        for key in sorted(k for k in self.pending if weeks.week_last_day(k, self.start_year) <= last_day):
            slot = self.pending.pop(key)
            arrays = {}
            for n in self.names:
                arrays[f"{n}_mean"] = slot[n].mean.astype(np.float32)[None]
                arrays[f"{n}_std"] = slot[n].std().astype(np.float32)[None]
            self.writer.push(key, arrays)

    def close(self) -> None:
        self.writer.close()


def write_climatology(group: zarr.Group, names: list[str], train: list[int], start_year: int, end_year: int) -> None:
    """``{v}_mean_clim`` and ``{v}_std_clim`` from the training years' ``{v}_mean``."""
    years = [y for y in train if start_year <= y <= end_year]
    for name in names:
        per_year = np.stack([group[f"{name}_mean"][(y - start_year) * 52 : (y - start_year + 1) * 52] for y in years])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            group[f"{name}_mean_clim"][:] = np.nanmean(per_year, axis=0)
            group[f"{name}_std_clim"][:] = np.nanstd(per_year, axis=0)
