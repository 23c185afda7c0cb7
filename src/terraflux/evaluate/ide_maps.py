"""Maps of one IDE model at one test week: extremes probability, true extremes, predicted and true drivers.

Inputs (docs/data-layout.md):

- ``predictions``: ``results/{run}/ide/<dataset>_<backbone>_<codebook>_seed<i>/predictions.zarr`` with
  ``extreme_probability(target_time, y, x)`` (1), ``driver(variable, time, y, x)`` bool (majority vote),
  ``covered(time, y, x)`` bool;
- ``dataset``: ``resources/{run}/ide/<dataset>/dataset.zarr`` with ``extreme(time, y, x)`` (the target),
  ``valid(time, y, x)`` and optional ``latitude``/``longitude`` coordinates;
- ``truth`` (optional, evaluation only): the benchmark store or the synthetic world's ``truth/extremes*.zarr``
  with ``extreme(time, ...)`` and ``driver(variable, time, ...)`` on the dataset's grid, matched by time and
  variable name (variables it does not list get no truth panel).

The week shown is the test target week with the most valid extreme pixels (or a given one).
"""

from __future__ import annotations

from terraflux.errors import ConfigError, DataError
from terraflux.evaluate import figures

import matplotlib.colors
import numpy as np
import xarray as xr

PROBABILITY_UNITS = "probability (1)"
DRIVER_UNITS = "driver (0/1)"
EXTREME_UNITS = "extreme (0/1)"
BINARY = matplotlib.colors.ListedColormap(["#f4f1ea", "#b2182b"])
TITLE_BAND_INCHES = 0.45  # the figure title's line (11 pt) and the space around it


def _extremes(dataset: xr.Dataset, truth: xr.Dataset | None, times) -> tuple[np.ndarray, str]:
    """True extremes [n, y, x] at ``times``: the truth's where it has them, else the dataset's target."""
    if truth is not None and "extreme" in truth:
        return np.asarray(truth["extreme"].sel(time=times).values, bool), "true extremes"
    return np.asarray(dataset["extreme"].sel(time=times).values, bool), "observed extremes (target)"


def parse_week(text: str, pred: xr.Dataset, key: str = "evaluate.ide_map_week"):
    """The week asked for in the config: None for ``""`` (choose automatically), a date (``YYYY-MM-DD``)
    for datasets with dated weeks (ERA5-Land, CERRA), a week index for the benchmark; a clear error
    naming ``key`` when the form does not fit the predictions' ``target_time``."""
    text = str(text).strip()
    if not text:
        return None
    dated = np.issubdtype(pred["target_time"].dtype, np.datetime64)
    if dated and not text.isdigit():
        return np.datetime64(text, "ns")
    if not dated and text.isdigit():
        return int(text)
    wanted = (
        "a date YYYY-MM-DD (this dataset's weeks are dated)"
        if dated
        else "a week index (the benchmark's weeks are numbered)"
    )
    raise ConfigError(
        f"{key}: {text!r} does not fit this dataset; give {wanted}, "
        "or leave it empty to map the week with the most extremes"
    )


def choose_week(pred: xr.Dataset, dataset: xr.Dataset, truth: xr.Dataset | None = None, week=None):
    """The target week to map: ``week`` if given (nearest target week), else the one with the most valid
    extreme pixels (the first of ties)."""
    targets = pred["target_time"].values
    if targets.size == 0:
        raise DataError("predictions.zarr has no test target weeks (target_time is empty): re-run ide_test")
    if week is not None:
        return pred["target_time"].sel(target_time=np.asarray(week, dtype=targets.dtype), method="nearest").values
    extreme, _ = _extremes(dataset, truth, targets)
    valid = np.asarray(dataset["valid"].sel(time=targets).values, bool)
    return targets[int(np.argmax((extreme & valid).sum(axis=(1, 2))))]


def week_label(dataset: xr.Dataset, week) -> str:
    """'week of YYYY-MM-DD' for dates, else 'week <index> (week of year <w>)' (the benchmark's time index)."""
    if np.issubdtype(np.asarray(week).dtype, np.datetime64):
        return f"week of {np.datetime_as_string(np.asarray(week, 'datetime64[D]'))}"
    of_year = int(dataset["week_of_year"].sel(time=week).values) if "week_of_year" in dataset.coords else None
    return f"week {int(week)}" + (f" (week of year {of_year})" if of_year is not None else "")


def grid(dataset: xr.Dataset) -> tuple[np.ndarray, np.ndarray, tuple[str, str]]:
    """Row and column coordinates and axis labels: 1-D latitude(y) / longitude(x) where the dataset has
    them, else the grid indices (the benchmark; CERRA's Lambert grid, rows south first)."""
    lat, lon = dataset.coords.get("latitude"), dataset.coords.get("longitude")
    if lat is not None and lon is not None and lat.dims == ("y",) and lon.dims == ("x",):
        return lat.values, lon.values, figures.AXIS_LABELS
    return np.arange(dataset.sizes["y"]), np.arange(dataset.sizes["x"]), ("x (grid column)", "y (grid row)")


def _mask_panel(values: np.ndarray, title: str, units: str) -> dict:
    """A :func:`figures.map_grid` panel of a 0/1 mask (NaN: no data)."""
    return {
        "values": np.asarray(values, dtype=float),
        "title": title,
        "units": units,
        "limits": (0.0, 1.0),
        "cmap": BINARY,
        "ticks": [0, 1],
    }


def panels(pred: xr.Dataset, dataset: xr.Dataset, truth: xr.Dataset | None, week) -> tuple[list[dict], np.ndarray]:
    """Panels for :func:`figures.map_grid` at ``week`` and the mask of valid, covered pixels [y, x].

    Row 1: extremes probability and true extremes; then per variable the predicted driver mask and, where
    the truth lists the variable, the true one (an empty panel for the others).
    """
    when = week_label(dataset, week)
    valid = np.asarray(dataset["valid"].sel(time=week).values, bool)
    if "covered" in pred:
        valid &= np.asarray(pred["covered"].sel(time=week).values, bool)
    extreme, what = _extremes(dataset, truth, [week])
    if extreme.shape[1:] != valid.shape:
        raise DataError(f"truth grid {extreme.shape[1:]} differs from the IDE dataset's {valid.shape}")
    out = [
        {
            "values": pred["extreme_probability"].sel(target_time=week).values,
            "title": f"P(extreme), {when}",
            "units": PROBABILITY_UNITS,
            "limits": (0.0, 1.0),
            "cmap": "magma",
            "ticks": [0, 0.25, 0.5, 0.75, 1],
        },
        _mask_panel(extreme[0], f"{what}, {when}", EXTREME_UNITS),
    ]
    known = [str(v) for v in truth["variable"].values] if truth is not None and "driver" in truth else []
    for name in [str(v) for v in pred["variable"].values]:
        predicted = pred["driver"].sel(variable=name, time=week).values
        out.append(_mask_panel(predicted, f"{name}: predicted drivers, {when}", DRIVER_UNITS))
        if name in known:
            true = truth["driver"].sel(variable=name, time=week).values
            out.append(_mask_panel(true, f"{name}: true drivers, {when}", DRIVER_UNITS))
        elif known:  # keep the two-column layout: an empty panel where the truth has no such variable
            out.append(_mask_panel(np.full(valid.shape, np.nan), f"{name}: no true drivers in the truth", DRIVER_UNITS))
    return out, valid


def figure(pred: xr.Dataset, dataset: xr.Dataset, truth: xr.Dataset | None, *, title: str, week=None):
    """The IDE maps figure (invalid or uncovered pixels grey); returns (figure, chosen week)."""
    chosen = choose_week(pred, dataset, truth, week)
    items, valid = panels(pred, dataset, truth, chosen)
    lat, lon, labels = grid(dataset)
    ncols = 2 if truth is not None and "driver" in truth else 3
    fig = figures.map_grid(
        items,
        lat,
        lon,
        land=valid,
        ncols=ncols,
        axis_labels=labels,
        suptitle=f"{title}, {week_label(dataset, chosen)} (grey: invalid or not covered)",
    )
    # tight_layout leaves the figure title out of its account, so it overlapped the first row's titles and
    # colour bars: lay the panels out again below a band kept for the title
    fig.tight_layout(rect=(0, 0, 1, 1 - TITLE_BAND_INCHES / fig.get_figheight()))
    return fig, chosen
