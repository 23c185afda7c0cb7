"""Normalised model inputs and targets from a downscaling dataset (:mod:`.downscale_data`).

Per variable v with training statistics (``dataset.attrs["stats"]``):

- coarse field on the fine grid: ``(bilinear - fine_mean) / fine_std``;
- fine field (the previous frame of the autoregression): ``(fine - fine_mean) / fine_std``;
- residual target: ``(fine - bilinear - residual_mean) / residual_std``, ``residual_mean`` the per-pixel
  training mean, also given to the models as a static channel ``residual_mean / residual_std``.

Points without fine data (``mask`` False) are 0 in every array and left out of the losses.
Arrays are float32 ``[time, variable, y, x]`` (static ``[variable, y, x]``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr


@dataclass
class Frames:
    coarse: np.ndarray
    fine: np.ndarray
    residual: np.ndarray
    static: np.ndarray
    mask: np.ndarray
    split: np.ndarray
    fine_mean: np.ndarray
    fine_std: np.ndarray
    residual_std: np.ndarray
    residual_mean: np.ndarray
    bilinear: np.ndarray

    @property
    def n_variables(self) -> int:
        return self.coarse.shape[1]

    def to_fine(self, residual_norm: np.ndarray, index) -> np.ndarray:
        """Fine fields [..., variable, y, x] in the store's units from normalised residuals at time ``index``."""
        r = residual_norm * self.residual_std[:, None, None] + self.residual_mean
        out = self.bilinear[index] + r
        return np.where(self.mask, out, np.nan).astype(np.float32)

    def normalise_fine(self, fine: np.ndarray) -> np.ndarray:
        """Fine fields [..., variable, y, x] (store units) -> normalised, 0 outside the mask."""
        z = (fine - self.fine_mean[:, None, None]) / self.fine_std[:, None, None]
        return np.where(self.mask, np.nan_to_num(z), 0.0).astype(np.float32)


def load_frames(ds: xr.Dataset) -> Frames:
    """:class:`Frames` of a dataset store (module docstring)."""
    names = [str(v) for v in ds["variable"].values]
    stats = ds.attrs["stats"]
    col = lambda key: np.array([stats[v][key] for v in names], dtype=np.float32)  # noqa: E731
    fine_mean, fine_std, residual_std = col("fine_mean"), col("fine_std"), col("residual_std")
    mask = ds["mask"].values.astype(bool)
    bil = ds["bilinear"].transpose("time", "variable", "y", "x").values.astype(np.float32)
    fine = ds["fine"].transpose("time", "variable", "y", "x").values.astype(np.float32)
    rmean = np.nan_to_num(ds["residual_mean"].values).astype(np.float32)
    sc = lambda a: (a - fine_mean[:, None, None]) / fine_std[:, None, None]  # noqa: E731
    coarse = np.where(mask, sc(bil), 0.0).astype(np.float32)
    fine_n = np.where(mask, np.nan_to_num(sc(fine)), 0.0).astype(np.float32)
    residual = np.where(mask, np.nan_to_num((fine - bil - rmean) / residual_std[:, None, None]), 0.0)
    static = np.where(mask, rmean / residual_std[:, None, None], 0.0).astype(np.float32)
    return Frames(
        coarse=coarse,
        fine=fine_n,
        residual=residual.astype(np.float32),
        static=static,
        mask=mask,
        split=ds["split"].values.astype(str),
        fine_mean=fine_mean,
        fine_std=fine_std,
        residual_std=residual_std,
        residual_mean=rmean,
        bilinear=bil,
    )


def condition(frames: Frames, features: np.ndarray, index: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Conditioning channels [B, 3 V + F, y, x] of time steps ``index`` [B]: coarse field, frozen encoder
    ``features`` [T, F, y, x], ``previous`` normalised fine frames [B, V, y, x] and the static residual mean."""
    static = np.broadcast_to(frames.static, (len(index), *frames.static.shape))
    return np.concatenate([frames.coarse[index], features[index], previous, static], axis=1)


def true_previous(frames: Frames, index: np.ndarray) -> np.ndarray:
    """The true previous normalised fine frame of each step [B, V, y, x]; the first step gets its coarse field."""
    prev = np.maximum(index - 1, 0)
    out = frames.fine[prev].copy()
    first = index == 0
    out[first] = frames.coarse[index[first]]
    return out
