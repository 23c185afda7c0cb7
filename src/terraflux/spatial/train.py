"""Training of the downscaling networks on :class:`~.frames.Frames`: the transfer encoder's pretraining on
the long coarse series, the deterministic U-Net baseline and the conditional diffusion model (both on the
training times, conditioned on the coarse field, the frozen encoder's features, the previous fine frame and
the static residual mean). Every loop draws minibatches of time steps with a seeded generator and runs a
fixed number of Adam steps, deterministic on CPU.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from terraflux.spatial import diffusion
from terraflux.spatial.frames import Frames, condition, true_previous
from terraflux.spatial.unet import Autoencoder, UNet

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)


def fit(model: torch.nn.Module, batch_loss: Callable, pool: np.ndarray, cfg: dict, seed: int) -> list[float]:
    """``cfg["steps"]`` Adam steps (``lr``) on ``batch_loss(index [B], generator)`` over minibatches of
    ``batch_size`` time steps drawn from ``pool``; returns the mean loss of each tenth of the steps."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(model.parameters(), lr=float(cfg["lr"]))
    steps, history, running = int(cfg["steps"]), [], []
    model.train()
    for step in range(steps):
        index = np.sort(rng.choice(pool, size=min(int(cfg["batch_size"]), pool.size), replace=False))
        loss = batch_loss(index, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        running.append(float(loss.detach()))
        if (step + 1) % max(1, steps // 10) == 0:
            history.append(float(np.mean(running)))
            log.info("step %d/%d loss %.4f", step + 1, steps, history[-1])
            running = []
    model.eval()
    return history


def _mask(frames: Frames) -> torch.Tensor:
    return torch.from_numpy(frames.mask.astype(np.float32))


def pretrain_autoencoder(frames: Frames, width: int, cfg: dict, seed: int) -> tuple[Autoencoder, list[float]]:
    """The autoencoder of the transfer encoder, trained to reconstruct the coarse field (on the fine grid)
    at every time step of the long coarse series (masked mean squared error)."""
    torch.manual_seed(seed)  # the initial weights
    model = Autoencoder(frames.n_variables, width)
    mask = _mask(frames)
    pool = np.arange(frames.coarse.shape[0])

    def batch_loss(index, gen):
        x = torch.from_numpy(frames.coarse[index])
        return (((model(x) - x) ** 2) * mask).sum() / (mask.sum() * x.shape[0] * x.shape[1])

    return model, fit(model, batch_loss, pool, cfg, seed)


@torch.no_grad()
def encoder_features(encoder: Autoencoder, frames: Frames, batch: int = 32) -> np.ndarray:
    """Frozen encoder features [T, F, y, x] of every time step's coarse field."""
    out = [
        encoder.features(torch.from_numpy(frames.coarse[i : i + batch])) for i in range(0, len(frames.coarse), batch)
    ]
    return torch.cat(out).numpy().astype(np.float32)


def train_pool(frames: Frames) -> np.ndarray:
    """Indices of the training time steps."""
    return np.nonzero(frames.split == "train")[0]


def _cond(frames: Frames, features: np.ndarray, index: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(condition(frames, features, index, true_previous(frames, index)))


def n_condition(frames: Frames, features: np.ndarray) -> int:
    """Number of conditioning channels: 3 V + F."""
    return 3 * frames.n_variables + features.shape[1]


def train_unet(frames: Frames, features: np.ndarray, width: int, cfg: dict, seed: int) -> tuple[UNet, list[float]]:
    """The deterministic U-Net baseline: conditioning -> normalised residual, masked mean squared error."""
    torch.manual_seed(seed)  # the initial weights
    model = UNet(n_condition(frames, features), frames.n_variables, width)
    mask = _mask(frames)

    def batch_loss(index, gen):
        target = torch.from_numpy(frames.residual[index])
        pred = model(_cond(frames, features, index))
        return (((pred - target) ** 2) * mask).sum() / (mask.sum() * target.shape[0] * target.shape[1])

    return model, fit(model, batch_loss, train_pool(frames), cfg, seed)


@torch.no_grad()
def regression_means(unet: UNet, frames: Frames, features: np.ndarray, batch: int = 32) -> np.ndarray:
    """The deterministic U-Net's normalised residual [T, V, y, x] at every time step, each from its true
    previous fine frame (0 outside the mask)."""
    unet.eval()
    steps = np.arange(frames.coarse.shape[0])
    out = [unet(_cond(frames, features, steps[i : i + batch])).numpy() for i in range(0, steps.size, batch)]
    return np.where(frames.mask, np.concatenate(out), 0.0).astype(np.float32)


def around_regression(frames: Frames, means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Target of the diffusion model around a regression (CorrDiff, Mardani et al. 2023,
    https://arxiv.org/abs/2309.15214): (normalised residual - ``means``) / scale [T, V, y, x], with the
    per-variable scale [V] the root mean square of the regression's error over the training times' masked
    points (1 where that error is 0)."""
    error = frames.residual - means
    train = frames.split == "train"
    scale = np.sqrt((error[train] ** 2).sum(axis=(0, 2, 3)) / (train.sum() * frames.mask.sum()))
    scale = np.where(scale > 0, scale, 1.0)
    target = np.where(frames.mask, error / scale[:, None, None], 0.0)
    return target.astype(np.float32), scale.astype(np.float32)


def train_diffusion(
    frames: Frames, features: np.ndarray, width: int, steps: int, cfg: dict, seed: int, means: np.ndarray | None = None
) -> tuple[UNet, list[float]]:
    """The conditional diffusion model of the normalised residual, ``steps`` diffusion steps. With ``means``
    (the U-Net's normalised residual [T, V, y, x], :func:`regression_means`) it models the residual around
    them instead (:func:`around_regression`) and takes them as V more conditioning channels."""
    v = frames.n_variables
    torch.manual_seed(seed)  # the initial weights
    extra = 0 if means is None else v
    model = UNet(v + n_condition(frames, features) + extra, v, width, time_dim=32)
    schedule = diffusion.Schedule(steps)
    mask = _mask(frames)
    target = frames.residual if means is None else around_regression(frames, means)[0]

    def batch_loss(index, gen):
        cond = _cond(frames, features, index)
        if means is not None:
            cond = torch.cat([cond, torch.from_numpy(means[index])], 1)
        return diffusion.loss(model, schedule, torch.from_numpy(target[index]), cond, mask, gen)

    return model, fit(model, batch_loss, train_pool(frames), cfg, seed)


def pretrain_contrastive(
    frames: Frames, lat: np.ndarray, lon: np.ndarray, width: int, cfg: dict, seed: int, semivariogram: bool
) -> tuple[Autoencoder, list[float]]:
    """The transfer encoder trained by InfoNCE on patches of the coarse series (:mod:`.contrastive`), with
    semivariogram-weighted negatives when ``semivariogram``; ``lat``, ``lon`` [y, x] of the fine grid. Only the
    encoder of the returned :class:`Autoencoder` is trained (its decoder is unused)."""
    from terraflux.spatial import contrastive

    torch.manual_seed(seed)
    model = Autoencoder(frames.n_variables, width)
    head = contrastive.ProjectionHead(4 * width)
    rng = np.random.default_rng(seed + 1)  # the places and noise of the patches
    size, noise, tau = int(cfg["patch_size"]), float(cfg["noise"]), float(cfg["tau"])

    def batch_loss(index, gen):
        a, b, plat, plon = contrastive.patches(frames.coarse, lat, lon, index, size, noise, rng)
        za, zb = (
            contrastive.embed(model, head, torch.from_numpy(a)),
            contrastive.embed(model, head, torch.from_numpy(b)),
        )
        weights = contrastive.negative_weights(za, contrastive.distances_km(plat, plon)) if semivariogram else None
        return contrastive.info_nce(za, zb, tau, weights)

    history = fit(nn.ModuleList([model.encoder, head]), batch_loss, np.arange(frames.coarse.shape[0]), cfg, seed)
    model.eval()
    return model, history
