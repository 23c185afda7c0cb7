"""Baselines for driver detection, on the same normalised data and with the same metrics as the model.

- :func:`naive_drivers`: a voxel is a driver where |normalised anomaly| > ``threshold`` (in climatological
  standard deviations), independently per variable, week and pixel.
- :func:`isolation_forest_drivers`: one scikit-learn ``IsolationForest`` per variable, fitted on training
  voxels (features: the 3 x 3 spatial neighbourhood at the week and the pixel one week before and after);
  the ``contamination`` share of the most isolated voxels are drivers.
- :class:`DeepMIL`: multiple-instance ranking (Sultani, Chen & Shah, "Real-world anomaly detection in
  surveillance videos", CVPR 2018). A bag is a pixel of a window; its
  instances are the (variable, week) voxels; a per-variable 3-D convolutional scorer gives each instance a
  score in (0, 1) and the bag's score is the maximum. Trained with the ranking hinge between extreme bags
  and bags without any extreme in the window, plus sparsity and temporal smoothness of the scores of
  extreme bags; drivers = instance score > 0.5 (then the majority vote over windows, as for the model).
"""

from __future__ import annotations

from terraflux.ide.model import grouped_conv

import numpy as np
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import sliding_window_view
from torch import nn

# DeepMIL's loss weights of the scores' sparsity and temporal smoothness (Sultani et al., 2018: 8e-5 each)
DEEPMIL_SPARSITY = 8e-5
DEEPMIL_SMOOTHNESS = 8e-5
DEEPMIL_HIDDEN = 8  # channels of the per-variable instance scorer


def naive_drivers(inputs: np.ndarray, threshold: float) -> np.ndarray:
    """inputs [V, C, T, H, W] normalised -> drivers [V, T, H, W]: any channel beyond +-threshold."""
    return (np.abs(inputs) > threshold).any(axis=1)


def _features(cube: np.ndarray) -> np.ndarray:
    """[T, H, W] -> features [T, H, W, 11]: 3 x 3 neighbourhood at t, and the pixel at t - 1 and t + 1."""
    padded = np.pad(cube, ((1, 1), (1, 1), (1, 1)), mode="edge")
    space = sliding_window_view(padded[1:-1], (3, 3), axis=(1, 2)).reshape(*cube.shape, 9)
    before = padded[:-2, 1:-1, 1:-1][..., None]
    after = padded[2:, 1:-1, 1:-1][..., None]
    return np.concatenate([space, before, after], axis=-1).astype(np.float32)


def isolation_forest_drivers(
    inputs: np.ndarray,
    train_weeks: np.ndarray,
    predict_weeks: np.ndarray,
    *,
    contamination: float,
    samples: int,
    seed: int,
    threads: int | None,
) -> np.ndarray:
    """Drivers [V, len(predict_weeks), H, W] from one isolation forest per variable (first channel)."""
    from sklearn.ensemble import IsolationForest

    rng = np.random.default_rng(seed)
    nv = inputs.shape[0]
    out = []
    for v in range(nv):
        feats = _features(inputs[v, 0])
        train = feats[train_weeks].reshape(-1, feats.shape[-1])
        pick = rng.choice(len(train), size=min(samples, len(train)), replace=False)
        forest = IsolationForest(contamination=contamination, random_state=int(rng.integers(2**31)), n_jobs=threads)
        forest.fit(train[pick])
        test = feats[predict_weeks]
        labels = forest.predict(test.reshape(-1, test.shape[-1]))
        out.append((labels == -1).reshape(test.shape[:-1]))
    return np.stack(out)


class DeepMIL(nn.Module):
    """Per-variable instance scorer; returns the same keys as the IDE model (logits, drivers)."""

    def __init__(self, variables: int, channels: int, hidden: int = DEEPMIL_HIDDEN):
        super().__init__()
        self.net = nn.Sequential(
            grouped_conv(variables, channels, hidden),
            nn.ReLU(),
            grouped_conv(variables, hidden, hidden),
            nn.ReLU(),
            grouped_conv(variables, hidden, 1, kernel=1),
        )

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """x [N, V, C, T, H, W] -> scores [N, V, T, H, W] in (0, 1), bag logits [N, H, W], drivers."""
        n, v, c, t, h, w = x.shape
        scores = torch.sigmoid(self.net(x.reshape(n, v * c, t, h, w)))
        bag = scores.flatten(1, 2).amax(dim=1).clamp(1e-6, 1 - 1e-6)
        return {"scores": scores, "logits": torch.logit(bag), "drivers": scores > 0.5}


def deepmil_loss(
    out: dict[str, torch.Tensor],
    batch: dict[str, torch.Tensor],
    sparsity: float = DEEPMIL_SPARSITY,
    smoothness: float = DEEPMIL_SMOOTHNESS,
) -> torch.Tensor:
    """Ranking hinge max(0, 1 - s(extreme bag) + s(normal bag)) over shuffled pairs, plus sparsity and
    temporal smoothness of the instance scores in extreme bags."""
    bag = torch.sigmoid(out["logits"])
    pos = batch["target"] & batch["valid"]
    neg = batch["normal"]
    s_pos, s_neg = bag[pos], bag[neg]
    k = min(len(s_pos), len(s_neg))
    loss = bag.sum() * 0.0
    if k:
        generator = torch.Generator(device="cpu").manual_seed(int(pos.sum()) * 7919 + int(neg.sum()))
        ip = torch.randperm(len(s_pos), generator=generator)[:k].to(bag.device)
        ineg = torch.randperm(len(s_neg), generator=generator)[:k].to(bag.device)
        loss = loss + F.relu(1 - s_pos[ip] + s_neg[ineg]).mean()
        scores = out["scores"].permute(0, 3, 4, 1, 2)[pos]  # [k, V, T]
        loss = (
            loss
            + sparsity * scores.sum(dim=(1, 2)).mean()
            + smoothness * (scores[..., 1:] - scores[..., :-1]).pow(2).sum(dim=(1, 2)).mean()
        )
    return loss
