"""Figures for the report (matplotlib, Agg backend, PNG).

Conventions: every axis says its quantity and unit, every colour bar has a unit, differences use a
diverging colour map centred on zero with symmetric limits, sea cells are drawn grey (land/sea mask), and
titles say what is shown and when. Functions return the figure; :func:`save` writes it atomically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from terraflux.workflow.atomic import atomic_output  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

SEA_COLOUR = "#c8d3dc"
SEQUENTIAL = "viridis"
DIVERGING = "RdBu_r"
MODEL_COLOURS = plt.get_cmap("tab10")
AXIS_LABELS = ("longitude (°E)", "latitude (°N)")


def save(fig, path: str | Path, dpi: int = 110) -> None:
    """Write a figure as PNG atomically and close it."""
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)


def _extent(lat, lon):
    lat, lon = np.asarray(lat), np.asarray(lon)
    dlat = abs(lat[1] - lat[0]) if lat.size > 1 else 1.0
    dlon = abs(lon[1] - lon[0]) if lon.size > 1 else 1.0
    return [lon.min() - dlon / 2, lon.max() + dlon / 2, lat.min() - dlat / 2, lat.max() + dlat / 2]


def map_panel(
    ax,
    values,
    lat,
    lon,
    *,
    land=None,
    title: str,
    units: str,
    diverging: bool = False,
    limits=None,
    cmap=None,
    axis_labels=AXIS_LABELS,
    ticks=None,
):
    """Draw one map [lat, lon] on ``ax``: sea grey, colour bar with ``units``, diverging if asked.

    ``ticks``: fixed colour-bar ticks for bounded quantities (no extension arrows then).
    ``axis_labels``: (x, y) axis labels; grids without 1-D latitude/longitude pass their row/column
    coordinates as ``lat``/``lon`` with labels saying so (rows ascending are drawn flipped, like latitude)."""
    values = np.asarray(values, dtype=np.float64)
    lat, lon = np.asarray(lat), np.asarray(lon)
    if lat[0] < lat[-1]:  # draw north up
        values, lat = values[::-1], lat[::-1]
        land = None if land is None else np.asarray(land)[::-1]
    shown = np.where(np.asarray(land, dtype=bool), values, np.nan) if land is not None else values
    finite = shown[np.isfinite(shown)]
    if limits is None:
        if finite.size == 0:
            limits = (-1.0, 1.0) if diverging else (0.0, 1.0)
        elif diverging:
            bound = float(np.nanpercentile(np.abs(finite), 98)) or 1e-9
            limits = (-bound, bound)
        else:
            limits = (float(np.nanpercentile(finite, 2)), float(np.nanpercentile(finite, 98)))
            if limits[0] == limits[1]:
                limits = (limits[0] - 1e-9, limits[1] + 1e-9)
    ax.set_facecolor(SEA_COLOUR)
    extent = _extent(lat, lon)
    if land is not None:
        sea = np.where(np.asarray(land, dtype=bool), np.nan, 1.0)
        ax.imshow(
            sea,
            extent=extent,
            cmap=matplotlib.colors.ListedColormap([SEA_COLOUR]),
            origin="upper",
            interpolation="nearest",
            aspect="auto",
        )
    image = ax.imshow(
        shown,
        extent=extent,
        origin="upper",
        interpolation="nearest",
        aspect="auto",
        cmap=cmap or (DIVERGING if diverging else SEQUENTIAL),
        vmin=limits[0],
        vmax=limits[1],
    )
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_title(title, fontsize=9)
    bar = ax.figure.colorbar(image, ax=ax, shrink=0.85, extend="both" if ticks is None else "neither")
    if ticks is not None:
        bar.set_ticks(ticks)
    bar.set_label(units)
    return image


def map_grid(panels: Sequence[Mapping], lat, lon, *, land=None, suptitle: str, ncols: int = 3, axis_labels=AXIS_LABELS):
    """A grid of maps; each panel dict has ``values``, ``title``, ``units`` and optional ``diverging``,
    ``limits``, ``cmap``, ``ticks``. Panels sharing a ``group`` key share colour limits."""
    n = len(panels)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 3.4 * nrows), squeeze=False)
    groups: dict = {}
    for panel in panels:
        if panel.get("group") is not None:
            vals = np.asarray(panel["values"], dtype=float)
            if land is not None:
                vals = np.where(np.asarray(land, dtype=bool), vals, np.nan)
            groups.setdefault(panel["group"], []).append(vals[np.isfinite(vals)])
    limits = {}
    for key, chunks in groups.items():
        allv = np.concatenate(chunks) if chunks else np.array([0.0])
        if allv.size == 0:
            allv = np.array([0.0, 1.0])
        diverging = any(p.get("diverging") for p in panels if p.get("group") == key)
        if diverging:
            b = float(np.percentile(np.abs(allv), 98)) or 1e-9
            limits[key] = (-b, b)
        else:
            lo, hi = float(np.percentile(allv, 2)), float(np.percentile(allv, 98))
            limits[key] = (lo, hi if hi > lo else lo + 1e-9)
    for ax, panel in zip(axes.ravel(), panels, strict=False):
        map_panel(
            ax,
            panel["values"],
            lat,
            lon,
            land=land,
            title=panel["title"],
            units=panel["units"],
            diverging=panel.get("diverging", False),
            limits=panel.get("limits") or limits.get(panel.get("group")),
            cmap=panel.get("cmap"),
            axis_labels=axis_labels,
            ticks=panel.get("ticks"),
        )
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return fig


def skill_bars(table: pd.DataFrame, *, metrics: Sequence[tuple[str, str]], units: str, title: str):
    """Bars of overall skill per variable (rows) and metric (columns), one bar per model.

    ``table``: rows of :func:`terraflux.metrics.skill_table` with group == 'all'. ``metrics``:
    (column, label) pairs; labels containing '{units}' get the flux unit.
    """
    overall = table[table["group"] == "all"]
    variables = list(dict.fromkeys(overall["variable"]))
    models = list(dict.fromkeys(overall["model"]))
    colours = MODEL_COLOURS if len(models) <= MODEL_COLOURS.N else plt.get_cmap("tab20")
    width = max(2.9, 0.22 * len(models) + 0.8)  # inches per panel: room for one bar and label per model
    fig, axes = plt.subplots(
        len(variables),
        len(metrics),
        figsize=(width * len(metrics), 2.5 * len(variables) + 0.1 * len(models)),
        squeeze=False,
    )
    for i, var in enumerate(variables):
        for j, (column, label) in enumerate(metrics):
            ax = axes[i, j]
            sub = overall[overall["variable"] == var].set_index("model").reindex(models)
            ax.bar(
                range(len(models)),
                sub[column].to_numpy(dtype=float),
                color=[colours(k % colours.N) for k in range(len(models))],
            )
            rotation = 30 if len(models) <= 6 else 90
            ax.set_xticks(
                range(len(models)), models, rotation=rotation, ha="right" if rotation < 90 else "center", fontsize=7
            )
            ax.set_ylabel(label.format(units=units), fontsize=8)
            ax.axhline(0, color="k", lw=0.6)
            ax.set_title(f"{var}: {label.split(' (')[0]}", fontsize=9)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def group_heatmap(table: pd.DataFrame, *, group: str, metric: str, label: str, title: str):
    """Heat map of one metric per model (columns) and group value (rows), one panel per variable."""
    sub = table[table["group"] == group]
    variables = list(dict.fromkeys(sub["variable"])) or ["-"]
    fig, axes = plt.subplots(
        1,
        len(variables),
        figsize=(3.6 * len(variables), 0.45 * max(3, sub["group_value"].nunique()) + 1.6),
        squeeze=False,
    )
    for ax, var in zip(axes[0], variables, strict=False):
        pivot = sub[sub["variable"] == var].pivot_table(index="group_value", columns="model", values=metric)
        data = pivot.to_numpy(dtype=float) if pivot.size else np.full((1, 1), np.nan)
        image = ax.imshow(
            data,
            cmap="RdYlBu",
            vmin=-1 if metric.endswith(("nse", "r2")) else None,
            vmax=1 if metric.endswith(("nse", "r2")) else None,
            aspect="auto",
        )
        ax.set_xticks(range(pivot.shape[1]), list(pivot.columns), rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(pivot.shape[0]), list(pivot.index), fontsize=8)
        for (r, c), v in np.ndenumerate(data):
            if np.isfinite(v):
                ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=7)
        ax.set_title(var, fontsize=9)
        ax.set_xlabel("model")
        ax.set_ylabel(group)
        fig.colorbar(image, ax=ax, shrink=0.85).set_label(label)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def structure_figure(results: Mapping[str, Mapping], *, units: Mapping[str, str], title: str, time_unit: str = "month"):
    """Spatial and temporal structure per variable (rows): semivariograms of prediction and reference
    with fitted models, ACF of the region-mean series, lag-k RMSE and R2.

    ``results[var]``: dict of :func:`semivariogram.compare_structure` (keys pred, ref, fit_pred, fit_ref,
    D) merged with :func:`temporal.compare_temporal` (acf_pred, acf_ref, lag_pred, lag_ref).
    """
    variables = list(results)
    fig, axes = plt.subplots(len(variables), 4, figsize=(15, 3.0 * len(variables)), squeeze=False)
    for i, var in enumerate(variables):
        res = results[var]
        unit = units.get(var, "")
        ax = axes[i, 0]
        for key, colour, label in (("ref", "k", "reference"), ("pred", "C1", "prediction")):
            sv = res[key]
            ax.plot(sv.distance, sv.gamma, "o", color=colour, ms=4, label=f"{label} (empirical)")
            fit = res[f"fit_{key}"]
            if np.isfinite(fit.get("range_km", np.nan)):
                h = np.linspace(0, np.nanmax(sv.edges), 100)
                model = fit["sill"] - fit["nugget"]
                curve = _model_curve(fit["model"], h, model, fit["range_km"], fit["nugget"])
                ax.plot(h, curve, "-", color=colour, lw=1)
        ax.set_xlabel("distance (km)")
        ax.set_ylabel(f"semivariance (({unit})²)")
        ax.set_title(f"{var}: semivariogram, D = {res['D']:.3f}", fontsize=9)
        ax.legend(fontsize=7)
        ax = axes[i, 1]
        lags = np.arange(len(res["acf_ref"]))
        ax.plot(lags, res["acf_ref"], "k-o", ms=3, label="reference")
        ax.plot(lags, res["acf_pred"], "-o", color="C1", ms=3, label="prediction")
        ax.axhline(np.exp(-1), color="grey", ls=":", lw=0.8)
        ax.set_xlabel(f"lag ({time_unit}s)")
        ax.set_ylabel("autocorrelation (1)")
        ax.set_title(f"{var}: ACF of the region mean", fontsize=9)
        ax.legend(fontsize=7)
        for j, (metric, label) in enumerate((("rmse", f"RMSE ({unit})"), ("r2", "R² (1)")), start=2):
            ax = axes[i, j]
            ax.plot(res["lag_ref"]["lag"], res["lag_ref"][metric], "k-o", ms=3, label="reference")
            ax.plot(res["lag_pred"]["lag"], res["lag_pred"][metric], "-o", color="C1", ms=3, label="prediction")
            ax.set_xlabel(f"lag k ({time_unit}s)")
            ax.set_ylabel(label)
            ax.set_title(f"{var}: map at t vs t-k, {metric.upper()}", fontsize=9)
            ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def _model_curve(model: str, h, var, len_scale, nugget):
    import gstools as gs

    cov = getattr(gs, model)(dim=2, var=max(var, 0.0), len_scale=max(len_scale, 1e-9), nugget=max(nugget, 0.0))
    return cov.variogram(h)


def grouped_bars(frame: pd.DataFrame, *, x: str, hue: str, metrics: Sequence[tuple[str, str]], title: str):
    """One panel per metric: bars of ``frame[metric]`` per ``x`` value, one colour per ``hue`` value."""
    xs = list(dict.fromkeys(frame[x]))
    hues = list(dict.fromkeys(frame[hue]))
    width = 0.8 / max(len(hues), 1)
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.2), squeeze=False)
    for ax, (column, label) in zip(axes[0], metrics, strict=False):
        for k, h in enumerate(hues):
            sub = frame[frame[hue] == h].set_index(x).reindex(xs)
            ax.bar(
                np.arange(len(xs)) + (k - (len(hues) - 1) / 2) * width,
                sub[column].to_numpy(dtype=float),
                width,
                label=str(h),
                color=MODEL_COLOURS(k),
            )
        ax.set_xticks(range(len(xs)), xs, fontsize=8, rotation=20, ha="right")
        ax.set_ylabel(label)
        ax.set_title(label.split(" (")[0], fontsize=9)
        ax.axhline(0, color="k", lw=0.6)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig
