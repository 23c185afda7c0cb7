"""Autoregressive reconstruction of the fine series over the whole period.

Step t is conditioned on the coarse field and encoder features of t and on the model's own fine field of
t - 1 (the first step on its coarse field). The deterministic U-Net runs one chain; the diffusion model runs
``n_samples`` chains (an ensemble for the spread), each sampled by DDIM. Every step's normalised residual is
clipped to the range of the training targets (:func:`target_range`), so a chain fed its own output cannot
run away. Returns fine fields
[member, time, variable, y, x] in the fine store's units (NaN outside the mask).
"""

from __future__ import annotations

from terraflux.spatial import diffusion
from terraflux.spatial.frames import Frames, condition

import numpy as np
import torch


def target_range(frames: Frames) -> float:
    """Largest absolute normalised residual of the training times."""
    return float(np.abs(frames.residual[frames.split == "train"]).max())


@torch.no_grad()
def reconstruct(frames: Frames, features: np.ndarray, step, n_members: int) -> np.ndarray:
    """Run ``step(cond [M, C, y, x]) -> normalised residual [M, V, y, x]`` along the time axis for M chains."""
    n_time = frames.coarse.shape[0]
    out = np.empty((n_members, n_time, *frames.coarse.shape[1:]), dtype=np.float32)
    previous = np.repeat(frames.coarse[:1], n_members, axis=0)
    clip = target_range(frames)
    for t in range(n_time):
        index = np.full(n_members, t)
        residual = step(torch.from_numpy(condition(frames, features, index, previous))).clamp(-clip, clip).numpy()
        out[:, t] = frames.to_fine(residual, t)
        previous = frames.normalise_fine(out[:, t])
    return out


def reconstruct_unet(model, frames: Frames, features: np.ndarray) -> np.ndarray:
    """The deterministic U-Net's reconstruction [1, T, V, y, x]."""
    model.eval()
    return reconstruct(frames, features, model, 1)


def reconstruct_diffusion(
    model,
    frames: Frames,
    features: np.ndarray,
    steps: int,
    sample_steps: int,
    n_samples: int,
    seed: int,
    around: tuple | None = None,
) -> np.ndarray:
    """The diffusion model's ensemble [n_samples, T, V, y, x] (DDIM, ``sample_steps`` steps, seeded).

    ``around``: ``(unet, scale [V], clip)`` for a model of the residual around the deterministic U-Net
    (:func:`.train.around_regression`): each step's U-Net output, conditioned as the U-Net is, is the mean and
    extra conditioning; the sample (clipped to ``clip``) times ``scale`` is added to it."""
    model.eval()
    schedule = diffusion.Schedule(steps)
    gen = torch.Generator().manual_seed(seed)
    v = frames.n_variables
    if around is None:
        clip = target_range(frames)

        def step(cond):
            return diffusion.ddim_sample(model, schedule, cond, v, sample_steps, gen, clip)

    else:
        unet, scale, clip = around
        unet.eval()
        scale = torch.as_tensor(np.asarray(scale, dtype=np.float32))[None, :, None, None]

        def step(cond):
            mean = unet(cond)
            sample = diffusion.ddim_sample(model, schedule, torch.cat([cond, mean], 1), v, sample_steps, gen, clip)
            return mean + scale * sample

    return reconstruct(frames, features, step, n_samples)
