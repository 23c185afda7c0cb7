"""Figures of the downscaling report section: maps of one test time step and skill curves."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def maps(fields: Mapping[str, np.ndarray], names, units: Mapping[str, str], title: str):
    """One row per variable, one column per field: ``fields[label]`` [variable, y, x] (fine grid, north up
    when ``y`` is north first). A label ending in ``spread`` gets its own colour scale."""
    labels = list(fields)
    fig, axes = plt.subplots(len(names), len(labels), figsize=(2.6 * len(labels), 2.4 * len(names)), squeeze=False)
    for i, name in enumerate(names):
        shared = [fields[k][i] for k in labels if not k.endswith("spread")]
        lo, hi = np.nanpercentile(np.stack(shared), [1, 99])
        for j, label in enumerate(labels):
            ax = axes[i, j]
            spread = label.endswith("spread")
            im = ax.imshow(fields[label][i], origin="lower", vmin=None if spread else lo, vmax=None if spread else hi)
            ax.set_title(f"{name}: {label}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(im, ax=ax, shrink=0.8).set_label(units.get(name, ""), fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def lead_curves(lead: pd.DataFrame, units: Mapping[str, str], time_unit: str, title: str):
    """RMSE and R2 by lead block after the training period, one line per model, one row per variable."""
    names = list(dict.fromkeys(lead["variable"]))
    fig, axes = plt.subplots(len(names), 2, figsize=(9, 2.8 * len(names)), squeeze=False)
    for i, name in enumerate(names):
        sub = lead[lead["variable"] == name]
        for j, (metric, label) in enumerate((("rmse", f"RMSE ({units.get(name, '')})"), ("r2", "R² (1)"))):
            ax = axes[i, j]
            for model, rows in sub.groupby("model", sort=False):
                ax.plot(rows["lead_start"], rows[metric], "-o", ms=3, label=model)
            ax.set_xlabel(f"lead after the training period ({time_unit}s)")
            ax.set_ylabel(label)
            ax.set_title(f"{name}: {metric.upper()} by lead", fontsize=9)
            ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
