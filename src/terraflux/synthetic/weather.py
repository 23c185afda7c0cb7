"""Hourly weather of the synthetic world at any points: the ERA5-Land variables and CERRA's.

Latent processes (``heat``, ``wet``, ``cloud``, ``pressure``, ``wind_u``, ``wind_v``): each is a sum of
``synthetic.weather_modes`` smooth spatial modes (correlation length ``synthetic.weather_length_deg``)
times daily AR(1) series, interpolated linearly in time; ``wet_soil`` and ``heat_soil`` are slow
(exponentially smoothed) memories of them. On top: climatologies with seasonal and daily cycles,
latitude and elevation gradients, and solar geometry. Every variable is first computed from the
latent state ("base"), then receives its own injected anomalies (extreme drivers and distractors,
:mod:`.extremes`), so the truth driver masks mark exactly where a variable was disturbed.

Times are valid times in whole hours since 1970-01-01 (int64). Accumulated variables are returned
as the amount of the hour ending at the valid time (m, J m-2); writers accumulate them from 00 UTC.
All outputs float32 [time, point].
"""

from __future__ import annotations

from terraflux.synthetic.extremes import anomaly
from terraflux.synthetic.fields import ar1_series, exponential_smooth

import numpy as np
import pandas as pd

PROCESSES = {"heat": 0.85, "wet": 0.55, "cloud": 0.45, "pressure": 0.75, "wind_u": 0.6, "wind_v": 0.6}
SOIL_MEMORY_DAYS = {"wet_soil": ("wet", 12.0), "heat_soil": ("heat", 8.0)}
SPINUP_DAYS = 90
SIGMA_SB = 5.670374419e-8

# How an injected anomaly A (signed, in units of natural variability) changes each variable:
# add: x + s A;  mul: x * max(1 + s A, 0.05);  exp: x * exp(s A)
ANOMALY_RULES = {
    "t2m": ("add", 2.5),
    "d2m": ("add", 2.5),
    "skt": ("add", 3.0),
    "sp": ("add", 500.0),
    "stl1": ("add", 1.5),
    "stl2": ("add", 1.2),
    "stl3": ("add", 0.8),
    "stl4": ("add", 0.5),
    "u10": ("add", 1.5),
    "v10": ("add", 1.5),
    "fal": ("add", 0.03),
    "swvl1": ("add", 0.04),
    "swvl2": ("add", 0.035),
    "swvl3": ("add", 0.03),
    "swvl4": ("add", 0.02),
    "tp": ("exp", 0.7),
    "ro": ("exp", 0.7),
    "sd": ("exp", 0.3),
    "ssrd": ("mul", 0.12),
    "ssr": ("mul", 0.12),
    "strd": ("mul", 0.05),
    "str": ("mul", 0.15),
    "slhf": ("mul", 0.25),
    "sshf": ("mul", 0.25),
    "e": ("mul", 0.25),
    "pev": ("mul", 0.2),
    "lai_hv": ("mul", 0.12),
    "lai_lv": ("mul", 0.15),
}
GROUP_ALBEDO = np.array([0.15, 0.10, 0.19, 0.25])


def draw_weather(world, rng: np.random.Generator) -> None:
    """Daily latent series [modes, days] from one day before the first year to one day after the last."""
    import datetime as dt

    years = world.spec.years
    day0 = dt.date(years[0], 1, 1) - dt.timedelta(days=1)
    ndays = (dt.date(years[-1] + 1, 1, 1) - day0).days + 2
    world.scalars["day0"] = float((day0 - dt.date(1970, 1, 1)).days)
    modes = int(world.spec.knobs["weather_modes"])
    full = {}
    for name, rho in PROCESSES.items():
        full[name] = ar1_series(rng, ndays + SPINUP_DAYS, rho, (modes,))
        world.arrays[f"series_{name}"] = full[name][:, SPINUP_DAYS:].astype(np.float32)
        for m in range(modes):
            world.field(f"mode_{name}_{m}")
    for name, (src, tau) in SOIL_MEMORY_DAYS.items():
        world.arrays[f"series_{name}"] = exponential_smooth(full[src], tau)[:, SPINUP_DAYS:].astype(np.float32)


class Points:
    """Static properties of a set of points (any shape; flattened to [P])."""

    def __init__(self, world, lat: np.ndarray, lon: np.ndarray):
        from terraflux.synthetic.land import elevation

        self.world = world
        self.shape = np.shape(lat)
        self.lat = np.asarray(lat, dtype=np.float64).ravel()
        self.lon = np.asarray(lon, dtype=np.float64).ravel()
        self.elev = elevation(world, self.lat, self.lon)
        modes = int(world.spec.knobs["weather_modes"])
        self.modes = {
            name: np.stack([world.field(f"mode_{name}_{m}")(self.lat, self.lon) for m in range(modes)]).astype(
                np.float32
            )
            / np.sqrt(modes)
            for name in PROCESSES
        }
        self.modes["wet_soil"] = self.modes["wet"]
        self.modes["heat_soil"] = self.modes["heat"]
        # Nearest ERA5-Land cell of each point (for its PFT composition).
        grid = world.era5_grid
        self.iy = np.clip(np.rint((grid.lat[0] - self.lat) / 0.1).astype(int), 0, grid.shape[0] - 1)
        self.ix = np.clip(np.rint((self.lon - grid.lon[0]) / 0.1).astype(int), 0, grid.shape[1] - 1)

    def fractions(self, year: int) -> np.ndarray:
        """True group fractions [4, P] of each point's cell in ``year``."""
        years = self.world.spec.years
        year = min(max(year, years[0]), years[-1])
        return self.world.year_fractions(year)[:, self.iy, self.ix]


class Weather:
    """Weather at ``points`` for valid ``hours`` (int64 hours since 1970). ``get(name)`` returns a
    variable with its injected anomalies, ``base(name)`` without; results are cached."""

    def __init__(self, points: Points, hours: np.ndarray):
        self.p = points
        self.world = points.world
        self.hours = np.asarray(hours, dtype=np.int64)
        self._cache: dict[str, np.ndarray] = {}
        days = self.hours / 24.0

        stamps = pd.to_datetime(self.hours, unit="h")
        self.doy = (stamps.day_of_year.values + stamps.hour.values / 24.0)[:, None].astype(np.float32)
        self.year = stamps.year.values
        self.utc_hour = stamps.hour.values[:, None].astype(np.float32)
        self.solar_hour = (self.utc_hour + (self.p.lon[None, :] / 15.0).astype(np.float32)) % np.float32(24.0)
        self.elev = self.p.elev[None].astype(np.float32)
        self.lat = self.p.lat[None].astype(np.float32)
        self.day_index = days - self.world.scalars["day0"] - 0.5  # series values sit at day centres

    # ---- latent processes ---------------------------------------------------------------------
    def process(self, name: str, shift_hours: float = 0.0) -> np.ndarray:
        key = f"_proc_{name}_{shift_hours}"
        if key not in self._cache:
            series = self.world.arrays[f"series_{name}"]
            x = np.clip(self.day_index + shift_hours / 24.0, 0, series.shape[1] - 1.001)
            i = np.floor(x).astype(int)
            w = (x - i)[:, None].astype(np.float32)
            at_t = series[:, i].T * (1 - w) + series[:, i + 1].T * w  # [T, M]
            self._cache[key] = at_t @ self.p.modes[name]
        return self._cache[key]

    def _season(self, lag_days: float = 18.0) -> np.ndarray:
        return np.cos(2 * np.pi * (self.doy - lag_days) / 365.25)

    def t_clim(self) -> np.ndarray:
        """Climatological daily-mean 2 m temperature, K [T, P] (no weather, no daily cycle)."""
        return 285.5 - 0.0062 * self.elev - 0.7 * (self.lat - 46.0) - 9.5 * self._season()

    def daily_cycle(self, peak_hour: float) -> np.ndarray:
        key = f"_cycle_{peak_hour}"
        if key not in self._cache:
            self._cache[key] = np.cos(np.float32(2 * np.pi / 24.0) * (self.solar_hour - np.float32(peak_hour)))
        return self._cache[key]

    def cloud(self) -> np.ndarray:
        if "cloud" not in self._cache:
            x = (
                0.9 * self.process("cloud")
                + 0.7 * self.process("wet")
                - 0.2
                + 0.4 * np.cos(2 * np.pi * (self.doy - 15) / 365.25)
            )
            self._cache["cloud"] = (1.0 / (1.0 + np.exp(-x))).astype(np.float32)
        return self._cache["cloud"]

    def sw_down(self) -> np.ndarray:
        """Mean downward short-wave flux of the hour ending at the valid time, W m-2."""
        if "sw" not in self._cache:
            f32 = np.float32
            doy = self.doy - f32(0.5 / 24)
            decl = f32(np.deg2rad(23.44)) * np.sin(f32(2 * np.pi / 365.0) * (f32(284) + doy))  # [T, 1]
            hour_angle = f32(np.pi / 12.0) * ((self.solar_hour - f32(0.5)) % f32(24.0) - f32(12.0))
            phi = np.deg2rad(self.lat)
            cosz = np.sin(phi) * np.sin(decl) + np.cos(phi) * np.cos(decl) * np.cos(hour_angle)
            toa = f32(1361.0) * (1 + f32(0.033) * np.cos(f32(2 * np.pi / 365.0) * doy)) * np.maximum(cosz, f32(0.0))
            trans = f32(0.74) + f32(0.00002) * self.elev
            self._cache["sw"] = (toa * trans * (1 - 0.72 * self.cloud())).astype(np.float32)
        return self._cache["sw"]

    def snow(self) -> np.ndarray:
        tday = self.t_clim() + 2.6 * self.process("heat_soil")
        return (1.0 / (1.0 + np.exp((tday - 272.0) / 1.5))).astype(np.float32)

    def pheno(self, threshold: float, width: float) -> np.ndarray:
        """Green fraction from the climatological temperature 20 days earlier (0..1)."""
        tlag = 285.5 - 0.0062 * self.elev - 0.7 * (self.lat - 46.0) - 9.5 * self._season(38.0)
        return (1.0 / (1.0 + np.exp(-(tlag - 273.15 - threshold) / width))).astype(np.float32)

    # ---- variables ----------------------------------------------------------------------------
    def base(self, name: str) -> np.ndarray:
        key = f"base_{name}"
        if key not in self._cache:
            self._cache[key] = np.asarray(getattr(self, f"_v_{name}")(), dtype=np.float32)
        return self._cache[key]

    def get(self, name: str) -> np.ndarray:
        """A variable with its injected anomalies (see ANOMALY_RULES), float32 [T, P]."""
        if name not in self._cache:
            x = self.base(name)
            a = anomaly(self.world, name, self.hours, self.p.lat, self.p.lon) if name in ANOMALY_RULES else None
            if a is not None:
                kind, s = ANOMALY_RULES[name]
                if kind == "add":
                    x = x + s * a
                elif kind == "mul":
                    x = x * np.maximum(1 + s * a, 0.05)
                else:
                    x = x * np.exp(s * a)
                if name.startswith("swvl"):
                    x = np.clip(x, 0.02, 0.5)
                if name == "fal":
                    x = np.clip(x, 0.03, 0.9)
            self._cache[name] = np.asarray(x, dtype=np.float32)
        return self._cache[name]

    def _v_t2m(self):
        amp = 2.5 + 3.5 * (1 - self.cloud())
        return self.t_clim() + 2.6 * self.process("heat") + amp * self.daily_cycle(14.5)

    def _dewpoint_depression(self):
        dd = (
            3.0
            + 3.0 * (1 - self.cloud()) * (0.5 + 0.5 * self.daily_cycle(14.5))
            - 1.5 * self.process("wet_soil")
            + 1.0 * self.process("heat")
        )
        return np.clip(dd, 0.2, 25.0)

    def _v_d2m(self):
        return self.base("t2m") - self._dewpoint_depression()

    def _v_skt(self):
        sw = self.sw_down()
        return self.base("t2m") + 0.009 * sw - 2.5 * (1 - self.cloud()) * (sw <= 0)

    def _stl(self, level: int):
        depth_amp = [1.8, 0.5, 0.0, 0.0][level - 1]
        memory = [2.0, 1.6, 1.0, 0.5][level - 1]
        lag = [18.0, 25.0, 40.0, 70.0][level - 1]
        damp = [1.0, 0.9, 0.7, 0.45][level - 1]
        clim = 285.5 - 0.0062 * self.elev - 0.7 * (self.lat - 46.0) + 1.0
        x = (
            clim
            - 9.5 * damp * self._season(lag)
            + memory * self.process("heat_soil")
            + depth_amp * self.daily_cycle(16.0)
        )
        return np.maximum(x, 268.0)

    def _v_stl1(self):
        return self._stl(1)

    def _v_stl2(self):
        return self._stl(2)

    def _v_stl3(self):
        return self._stl(3)

    def _v_stl4(self):
        return self._stl(4)

    def _v_sp(self):
        return 101325.0 * np.exp(-self.elev / 8300.0) + 700.0 * self.process("pressure")

    def _v_tp(self):
        wet = self.process("wet") + 0.5 * self.process("cloud") - 0.5
        summer = np.clip(-self._season(), 0, 1)
        rate_mm = (
            0.25 * (1 + self.elev / 1500.0) * np.maximum(wet, 0) ** 1.6 * (1 + 0.4 * summer * self.daily_cycle(16.0))
        )
        return rate_mm / 1000.0

    def _v_swvl(self, level: int):
        damp = [1.0, 0.8, 0.6, 0.4][level - 1]
        x = 0.29 + 0.01 * level + 0.04 * damp * np.cos(2 * np.pi * (self.doy - 45 - 20 * level) / 365.25)
        x = x + 0.06 * damp * self.process("wet_soil") - 0.03 * damp * self.process("heat_soil")
        return np.clip(x, 0.06, 0.46)

    def _v_swvl1(self):
        return self._v_swvl(1)

    def _v_swvl2(self):
        return self._v_swvl(2)

    def _v_swvl3(self):
        return self._v_swvl(3)

    def _v_swvl4(self):
        return self._v_swvl(4)

    def _year_fractions(self) -> np.ndarray:
        """Group fractions [4, T, P] of each time's year (the land cover changes by year)."""
        years = np.unique(self.year)
        out = np.empty((4,) + self.base_shape, dtype=np.float32)
        for y in years:
            out[:, self.year == y] = self.p.fractions(int(y))[:, None, :]
        return out

    @property
    def base_shape(self) -> tuple[int, int]:
        return (self.hours.size, self.p.lat.size)

    def _v_fal(self):
        frac = self._year_fractions()
        base = np.tensordot(GROUP_ALBEDO, frac, axes=1)
        return base + (0.65 - base) * 0.9 * self.snow()

    def _net_radiation(self):
        sw = self.sw_down()
        return sw * (1 - self.get("fal")) * 0.78 - 25.0

    def _v_e(self):
        soil = np.clip((self.get("swvl1") - 0.08) / 0.2, 0, 1)
        le = 0.55 * np.maximum(self._net_radiation(), 0) * soil + 4.0
        return -(le / 2.45e6) * 3600.0 / 1000.0

    def _v_ssrd(self):
        return self.sw_down() * 3600.0

    def _v_strd(self):
        t = self.get("t2m")
        return SIGMA_SB * t**4 * (0.72 + 0.22 * self.cloud()) * 3600.0

    def _v_ssr(self):
        return self.get("ssrd") * (1 - self.get("fal"))

    def _v_str(self):
        return self.get("strd") - 0.98 * SIGMA_SB * self.get("skt") ** 4 * 3600.0

    def _v_slhf(self):
        return self.get("e") * 1000.0 * 2.45e6

    def _v_sshf(self):
        return -(0.25 * np.maximum(self._net_radiation(), 0) - 5.0) * 3600.0

    def _v_pev(self):
        return 1.5 * self.base("e") - 0.00002

    def _v_ro(self):
        return self.get("tp") * 0.3 * np.clip((self.get("swvl1") - 0.2) / 0.2, 0, 1)

    def _v_u10(self):
        return 1.0 + 2.2 * self.process("wind_u") + 0.5 * self.process("pressure")

    def _v_v10(self):
        return 0.3 + 2.0 * self.process("wind_v")

    def _v_lai_hv(self):
        frac = self._year_fractions()
        lai_bl = 0.5 + 4.5 * self.pheno(8.0, 1.5)
        lai_nl = 3.5 + 1.0 * self.pheno(4.0, 2.0)
        return (frac[0] * lai_bl + frac[1] * lai_nl) / np.maximum(frac[0] + frac[1], 0.05)

    def _v_lai_lv(self):
        return 0.4 + 2.6 * self.pheno(6.0, 2.0) * (1 - self.snow())

    def _v_sd(self):
        return self.snow() * 0.02 * (1 + self.elev / 500.0)

    # ---- derived quantities (CERRA, towers) ------------------------------------------------------
    def _v_wind(self):
        return np.hypot(self.get("u10"), self.get("v10"))

    def _v_cloud(self):
        return self.cloud()

    def _v_rh(self):
        """2 m relative humidity (0..1) from the final temperature and dewpoint (Magnus formula)."""
        t, td = self.get("t2m") - 273.15, self.get("d2m") - 273.15
        return np.clip(np.exp(17.625 * td / (td + 243.04) - 17.625 * t / (t + 243.04)), 0.0, 1.0)

    def _v_vpd(self):
        """Vapour-pressure deficit, hPa."""
        t, td = self.get("t2m") - 273.15, self.get("d2m") - 273.15
        es = 6.1094 * np.exp(17.625 * t / (t + 243.04))
        ea = 6.1094 * np.exp(17.625 * td / (td + 243.04))
        return np.maximum(es - ea, 0.0)

    def _v_lw_down(self):
        return self.get("strd") / 3600.0
