"""The config a check runs with: ``config/config.yaml`` with the given config files merged on top, as
``snakemake --configfile`` merges them, validated as the workflow validates it when it starts.

Without config files the check uses the defaults (plausibility ranges, in-situ partitioning and coverage) but
no region, period, variable list or hours: the demo's settings would not describe the user's files. With them,
files are cropped to ``region`` and checked against ``period`` and the configured variables, as the jobs do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from terraflux.config import REPO_ROOT, read_file, validate
from terraflux.prepare import grid
from terraflux.sources import era5_land
from terraflux.sources.checks import check_config

import numpy as np
from snakemake.utils import update_config  # the merge `snakemake --configfile` does

#: The config every run starts from (the Snakefile's ``configfile:``).
DEFAULT_CONFIG = REPO_ROOT / "config" / "config.yaml"


@dataclass(frozen=True)
class Context:
    """The validated, complete ``config``; ``given``: config files were given (region, period and the
    variable list apply)."""

    config: dict
    given: bool

    @property
    def region(self) -> dict | None:
        """Config ``region`` (north, south, west, east in degrees) when config files were given, else None."""
        return self.config["region"] if self.given else None

    def region_text(self) -> str:
        """``'config `region` (47.5..48 N, 8..8.7 E)'``, for messages."""
        region = self.config["region"]
        return f"config `region` ({region['south']:g}..{region['north']:g} N, {region['west']:g}..{region['east']:g} E)"

    def model_grid(self) -> tuple[np.ndarray, np.ndarray, float]:
        """The model grid the region gives: cell centres (latitude descending, longitude) and cell size, degrees.

        Built from the ERA5-Land grid points inside the region (:func:`region_points`) in blocks of config
        ``prepare.model_grid_factor`` (:func:`terraflux.prepare.grid.model_grid`), as ``prepare_era5_land`` builds
        it from files on the ERA5-Land grid."""
        factor = int(self.config["prepare"]["model_grid_factor"])
        lat, lon = region_points(self.config["region"])
        cell_lat, cell_lon = grid.model_grid(lat, lon, factor)
        return cell_lat, cell_lon, factor * era5_land.STEP


def region_points(region: dict) -> tuple[np.ndarray, np.ndarray]:
    """The ERA5-Land grid points (every :data:`~terraflux.sources.era5_land.STEP` degrees) inside ``region``:
    latitude [ny] descending, longitude [nx] on -180..180 (:func:`terraflux.prepare.grid.region_longitudes`)."""
    step = era5_land.STEP
    west, east = grid.region_longitudes(region)
    north = math.floor(region["north"] / step + 1e-6)
    south = math.ceil(region["south"] / step - 1e-6)
    first, last = math.ceil(west / step - 1e-6), math.floor(east / step + 1e-6)
    return np.round(np.arange(north, south - 1, -1) * step, 6), np.round(np.arange(first, last + 1) * step, 6)


def load(configfiles: Sequence[str | Path] = ()) -> Context:
    """The context of ``configfiles`` merged on top of :data:`DEFAULT_CONFIG` (later files win, key by key),
    validated (:func:`terraflux.config.validate`) and checked against the sources' facts
    (:func:`terraflux.sources.checks.check_config`); a ConfigError names the key."""
    config = read_file(DEFAULT_CONFIG)
    for path in configfiles:
        update_config(config, read_file(path))
    full = validate(config)
    check_config(full)
    return Context(full, bool(configfiles))
