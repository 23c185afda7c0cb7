"""Writing IDE test outputs: the predictions store and a figure.

``predictions.zarr`` (zarr 3):

- ``driver(variable, time, y, x)`` bool: majority vote of the window masks, for every week the test
  windows cover (``time`` = the dataset's time values of those weeks);
- ``covered(time, y, x)`` bool: weeks/pixels seen by at least one window;
- ``extreme_probability(target_time, y, x)`` float32: P(extreme) at each test window's target week.
"""

from __future__ import annotations

from pathlib import Path

from terraflux.ide.windows import WindowData

import numpy as np


def write_predictions(pred: dict, data: WindowData, path: str | Path, attrs: dict) -> None:
    import xarray as xr

    weeks = np.arange(pred["first_week"], pred["first_week"] + pred["drivers"].shape[1])
    ds = xr.Dataset(
        {
            "driver": (("variable", "time", "y", "x"), pred["drivers"]),
            "covered": (("time", "y", "x"), pred["covered"]),
            "extreme_probability": (("target_time", "y", "x"), pred["probability"]),
        },
        coords={
            "variable": np.array(data.variables, dtype=object),
            "time": data.time[weeks],
            "target_time": data.time[pred["targets"]],
        },
        attrs=attrs,
    )
    ds["driver"].attrs.update(long_name="driver anomalies: majority vote of overlapping windows")
    ds["extreme_probability"].attrs.update(units="1", long_name="probability of an extreme at the target week")
    encoding = {"driver": {"chunks": (1, min(8, len(weeks))) + pred["drivers"].shape[2:]}}
    ds.to_zarr(path, mode="w", zarr_format=3, consolidated=False, encoding=encoding)


def plot_test(pred: dict, data: WindowData, truth: np.ndarray | None, path: str | Path, title: str) -> None:
    """One row per variable (predicted drivers, true drivers if known) at the test week with the most
    extremes, plus the extremes probability and the true extremes at that week."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = pred["targets"]
    i = int(np.argmax(data.extreme[t].sum(axis=(1, 2))))
    week = int(t[i])
    k = week - pred["first_week"]
    nv = len(data.variables)
    cols = 2 if truth is not None else 1
    fig, axes = plt.subplots(nv + 1, max(cols, 2), figsize=(2.4 * max(cols, 2), 2.2 * (nv + 1)), squeeze=False)
    axes[0, 0].imshow(pred["probability"][i], vmin=0, vmax=1, cmap="magma")
    axes[0, 0].set_title("P(extreme)", fontsize=8)
    axes[0, 1].imshow(data.extreme[week], vmin=0, vmax=1, cmap="gray_r")
    axes[0, 1].set_title("extreme (target)", fontsize=8)
    for v, name in enumerate(data.variables):
        axes[v + 1, 0].imshow(pred["drivers"][v, k], vmin=0, vmax=1, cmap="gray_r")
        axes[v + 1, 0].set_title(f"{name}: predicted drivers", fontsize=8)
        if truth is not None:
            axes[v + 1, 1].imshow(truth[v, week], vmin=0, vmax=1, cmap="gray_r")
            axes[v + 1, 1].set_title(f"{name}: true drivers", fontsize=8)
        else:
            axes[v + 1, 1].axis("off")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{title}, week index {week}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80, format="png")
    plt.close(fig)
