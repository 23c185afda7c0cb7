"""The latent world: everything random about the synthetic world, drawn once from the seed.

``World.create(spec)`` draws the land surface, the weather processes, the extreme events with their
drivers and distractors, and the flux-tower sites; ``save`` writes it as a small zarr store
(``resources/{run}/synthetic/world.zarr``) and ``load`` reads it back, so that every per-year job
writes its files from the same world. Sources are deterministic functions of the world.

Store layout: arrays as variables, smooth-field parameters stacked as ``field_freq [field, n, 2]`` /
``field_phase [field, n]`` (names in the ``fields`` attribute), scalars, the spec and the small tables
(events, drivers, distractors, sites) as JSON attributes.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from terraflux.errors import ConfigError
from terraflux.sources import cerra, era5_land
from terraflux.synthetic.cerra import QUANTITIES
from terraflux.synthetic.fields import SmoothField, stage_rng
from terraflux.synthetic.grids import LatLonGrid, Region, era5_land_grid, land_cover_fine_grid

import numpy as np
import xarray as xr

WORLD_VERSION = 1


@dataclass(frozen=True)
class WorldSpec:
    """What the world depends on: region, years, seed, the ``synthetic`` knobs and the ERA5-Land
    variables (short names) that extremes may couple to or disturb."""

    region: Region
    years: tuple[int, ...]
    seed: int
    knobs: dict = field(hash=False)
    variables: tuple[str, ...]

    @classmethod
    def from_config(cls, config: dict) -> WorldSpec:
        """From the validated config (sections run, region, period, synthetic, sources.era5_land)."""
        years = tuple(range(config["period"]["start_year"], config["period"]["end_year"] + 1))
        variables = tuple(v.short for v in era5_land.variables(config["sources"]["era5_land"]["variables"]))
        spec = cls(
            Region.from_config(config["region"]),
            years,
            int(config["run"]["seed"]),
            dict(config["synthetic"]),
            variables,
        )
        spec.check()
        return spec

    def check(self) -> None:
        unknown = [v for v in self.knobs["coupled_variables"] if v not in self.variables]
        if unknown:
            raise ConfigError(
                f"'synthetic.coupled_variables' names {unknown}, which are not among the ERA5-Land variables "
                f"of 'sources.era5_land.variables' (short names {list(self.variables)}): add them there or remove them."
            )

    def to_json(self) -> str:
        data = asdict(self)
        data["region"] = asdict(self.region)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> WorldSpec:
        data = json.loads(text)
        return cls(
            Region(**data["region"]), tuple(data["years"]), int(data["seed"]), data["knobs"], tuple(data["variables"])
        )


def check_config(config: dict) -> None:
    """Everything the synthetic world needs from a validated config, checked before any job runs:
    known ERA5-Land and CERRA variables, coupled variables among the ERA5-Land ones, the LCCS product.
    Raises :class:`ConfigError` naming the key."""
    WorldSpec.from_config(config)
    for key in ("variables", "forecast_variables"):
        unknown = [
            v.request
            for v in cerra.variables(config["sources"]["cerra"][key], f"sources.cerra.{key}")
            if v.short not in QUANTITIES
        ]
        if unknown:
            raise ConfigError(f"'sources.cerra.{key}' holds {unknown}, which the synthetic world cannot generate")
    if config["sources"]["land_cover"]["product"] != "lccs":
        raise ConfigError(
            "'sources.land_cover.product: pft' is download only (the ESA CCI PFT product); the synthetic world "
            "writes the LCCS land-cover zips: use 'product: lccs' with run.origin: synthetic."
        )


class World:
    """The latent world (see the module docstring). ``arrays`` live on the ERA5-Land grid unless
    their names say otherwise; ``tables`` are lists of dicts."""

    def __init__(self, spec: WorldSpec):
        self.spec = spec
        self.fields: dict[str, SmoothField] = {}
        self.arrays: dict[str, np.ndarray] = {}
        self.scalars: dict[str, float] = {}
        self.tables: dict[str, list[dict]] = {}

    # ---- grids -------------------------------------------------------------------------------
    @cached_property
    def era5_grid(self) -> LatLonGrid:
        return era5_land_grid(self.spec.region)

    @cached_property
    def fine_grid(self) -> LatLonGrid:
        return land_cover_fine_grid(self.era5_grid)

    @property
    def coslat(self) -> float:
        return float(np.cos(np.deg2rad(self.spec.region.mid_lat)))

    # ---- smooth fields -----------------------------------------------------------------------
    FIELD_LENGTHS = {
        "elev_large": 0.9,
        "elev_small": 0.25,
        "coast": 0.6,
        "pft_bl": 0.4,
        "pft_nl": 0.4,
        "pft_gs": 0.4,
        "pft_other": 0.3,
        "drift_BL": 0.8,
        "drift_NL": 0.8,
        "drift_GS": 0.8,
        "drift_other": 0.8,
        "purity": 0.35,
        "age": 0.3,
    }

    def field(self, name: str) -> SmoothField:
        """The named smooth field, drawn on first use from its own seed (land fields) or stored."""
        if name not in self.fields:
            length = self.FIELD_LENGTHS.get(name, self.spec.knobs["weather_length_deg"])
            self.fields[name] = SmoothField.draw(stage_rng(self.spec.seed, "field", name), length, self.coslat)
        return self.fields[name]

    def fine_rank(self, name: str) -> np.ndarray:
        """Within-cell ranked pixel noise of the 1/360 deg map (see :func:`land.fine_noise_rank`)."""
        from terraflux.synthetic.land import fine_noise_rank

        cache = self.__dict__.setdefault("_fine_rank", {})
        if name not in cache:
            cache[name] = fine_noise_rank(self, name)
        return cache[name]

    def points(self, name: str, lat: np.ndarray, lon: np.ndarray):
        """Static weather properties (:class:`weather.Points`) of a named point set, computed once."""
        from terraflux.synthetic.weather import Points

        cache = self.__dict__.setdefault("_points", {})
        if name not in cache:
            cache[name] = Points(self, lat, lon)
        return cache[name]

    # ---- land helpers used by several sources --------------------------------------------------
    def year_fractions(self, year: int) -> np.ndarray:
        """True group fractions [4, ny, nx] of ``year`` (stored by ``create``)."""
        return self.arrays["pft_fraction"][self.spec.years.index(year)]

    @property
    def land_mask(self) -> np.ndarray:
        return self.arrays["land_mask"]

    # ---- create / save / load ------------------------------------------------------------------
    @classmethod
    def create(cls, spec: WorldSpec) -> World:
        from terraflux.synthetic import extremes, land, towers, weather

        world = cls(spec)
        land.draw_land(world, stage_rng(spec.seed, "land"))
        fracs, masks = [], []
        for year in spec.years:
            frac, mask = land.group_fractions(world, land.fine_classes(world, year))
            fracs.append(frac)
            masks.append(mask)
        world.arrays["pft_fraction"] = np.stack(fracs)
        world.arrays["land_mask"] = masks[0]
        world.arrays["forest_age"] = np.stack([land.forest_age(world, y) for y in spec.years])
        weather.draw_weather(world, stage_rng(spec.seed, "weather"))
        extremes.draw_extremes(world, stage_rng(spec.seed, "extremes"))
        towers.draw_sites(world, stage_rng(spec.seed, "sites"))
        return world

    def save(self, path: str | Path, attrs: dict[str, Any] | None = None) -> None:
        """Write the world as a zarr store at ``path`` (a fresh directory)."""
        data: dict[str, Any] = {}
        for name, value in self.arrays.items():
            dims = tuple(f"{name}_d{i}" for i in range(value.ndim))
            data[name] = (dims, value)
        names = sorted(self.fields)
        data["field_freq"] = (("field", "feature", "two"), np.stack([self.fields[n].freq for n in names]))
        data["field_phase"] = (("field", "feature"), np.stack([self.fields[n].phase for n in names]))
        ds = xr.Dataset(data)
        ds.attrs.update(attrs or {})
        ds.attrs.update(
            world_version=WORLD_VERSION,
            spec=self.spec.to_json(),
            scalars=json.dumps(self.scalars, sort_keys=True),
            fields=json.dumps(names),
            tables=json.dumps(self.tables, sort_keys=True),
        )
        ds.to_zarr(path, mode="w-", consolidated=False)

    @classmethod
    def load(cls, path: str | Path) -> World:
        with warnings.catch_warnings():
            # Snakemake puts a .snakemake_timestamp file into directory outputs: not a zarr object.
            warnings.filterwarnings("ignore", message=".*snakemake_timestamp.*")
            with xr.open_zarr(path, consolidated=False) as ds:
                ds = ds.load()
        world = cls(WorldSpec.from_json(ds.attrs["spec"]))
        world.scalars = json.loads(ds.attrs["scalars"])
        world.tables = json.loads(ds.attrs["tables"])
        for i, key in enumerate(json.loads(ds.attrs["fields"])):
            world.fields[key] = SmoothField(ds["field_freq"].values[i], ds["field_phase"].values[i], world.coslat)
        for name in ds.data_vars:
            if not name.startswith("field_"):
                world.arrays[name] = ds[name].values
        return world
