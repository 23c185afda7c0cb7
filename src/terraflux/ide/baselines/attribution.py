"""Shared parts of the integrated-gradients baselines.

Integrated gradients (Sundararajan, Taly and Yan, "Axiomatic attribution for deep networks", ICML 2017,
arXiv:1703.01365), with captum, on a plain extremes classifier; the IDE paper reports two variants. The
classifier: per-variable 1 x 3 x 3 convolutions (features [N, V x F, T, H, W], independent per variable), then
a convolution over all T weeks and variables and a 1 x 1 layer to the extremes logit of each pixel; trained
with the IDE model's class-weighted BCE on valid pixels. The attributions of the sum of a window's logits,
from the all-zero baseline (the climatology), are summed per voxel over the channels (variant
``integrated_gradients_input``, on the inputs) or over each variable's features (variant
``integrated_gradients``, on the per-variable features, as captum's layer attribution). A voxel is a driver
where its attribution exceeds its variable's mean + ``ide.baselines.attribution_sigma`` x std over the
voxels of training windows (score sigmoid((a - threshold) / std)); the extremes probability is the
classifier's."""

from __future__ import annotations

from terraflux.ide.baselines.base import DRIVER_SCORE, NetworkBaseline
from terraflux.ide.losses import class_weights, weighted_bce
from terraflux.ide.model import grouped_conv
from terraflux.ide.windows import WindowData

import numpy as np
import torch
from torch import nn

CALIBRATION_BATCHES = 4  # batches of training windows whose attributions set the thresholds


class ExtremesClassifier(nn.Module):
    def __init__(self, variables: int, channels: int, weeks: int, hidden: int):
        super().__init__()
        self.variables, self.hidden = variables, hidden
        self.features = nn.Sequential(
            grouped_conv(variables, channels, hidden, kernel=(1, 3, 3)),
            nn.ReLU(),
            grouped_conv(variables, hidden, hidden, kernel=(1, 3, 3)),
            nn.ReLU(),
        )
        self.head = nn.Sequential(
            nn.Conv3d(variables * hidden, hidden, (weeks, 1, 1)), nn.ReLU(), nn.Conv3d(hidden, 1, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, V, C, T, H, W] -> extremes logits [N, H, W]."""
        n, v, c, t, h, w = x.shape
        return self.head(self.features(x.reshape(n, v * c, t, h, w)))[:, 0, 0]


class Attributed(nn.Module):
    """The classifier's logits and drivers from thresholded attributions (computed with gradients enabled,
    also under :func:`torch.no_grad`)."""

    def __init__(self, classifier: ExtremesClassifier, on_input: bool, steps: int):
        super().__init__()
        self.classifier, self.on_input, self.steps = classifier, on_input, steps
        self.register_buffer("mean", torch.zeros(classifier.variables))
        self.register_buffer("std", torch.ones(classifier.variables))
        self.register_buffer("threshold", torch.zeros(classifier.variables))

    def attributions(self, x: torch.Tensor) -> torch.Tensor:
        """Attributions [N, V, T, H, W] of the sum of each window's logits. On the features, the path runs
        from the features of the all-zero input to those of ``x`` (captum's layer attribution, computed on
        the head alone so that the features are not recomputed at every step)."""
        from captum.attr import IntegratedGradients

        classifier = self.classifier
        n, v, c, t, h, w = x.shape
        with torch.enable_grad():
            if self.on_input:
                a = IntegratedGradients(lambda inputs: classifier(inputs).sum(dim=(1, 2))).attribute(
                    x, torch.zeros_like(x), n_steps=self.steps
                )
                return a.sum(dim=2).detach()
            features = classifier.features(x.reshape(n, v * c, t, h, w)).detach()
            start = classifier.features(torch.zeros_like(x).reshape(n, v * c, t, h, w)).detach()
            a = IntegratedGradients(lambda f: classifier.head(f)[:, 0, 0].sum(dim=(1, 2))).attribute(
                features, start, n_steps=self.steps
            )
            return a.reshape(n, v, -1, t, h, w).sum(dim=2).detach()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.classifier(x)
        if self.training:
            return {"logits": logits}
        a = self.attributions(x)
        scores = torch.sigmoid((a - self.threshold[:, None, None, None]) / self.std[:, None, None, None])
        return {"logits": logits, "scores": scores, "drivers": scores > DRIVER_SCORE}


class AttributionBaseline(NetworkBaseline):
    """The classifier, its training and the thresholds of its attributions (``on_input``: which variant)."""

    on_input: bool

    def build(self, variables: int, channels: int, weeks: int) -> Attributed:
        classifier = ExtremesClassifier(variables, channels, weeks, self.settings["hidden"])
        return Attributed(classifier, self.on_input, self.settings["ig_steps"])

    def loss(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        target = batch["target"].float()
        return weighted_bce(out["logits"], target, class_weights(target, batch["valid"]))

    def calibrate(self, data: WindowData) -> dict:
        values = []
        for batch in self.training_windows(data, CALIBRATION_BATCHES, epoch=1):
            a = self.model.attributions(batch["x"].to(self.device.device)).cpu()
            values.append(a.permute(0, 3, 4, 1, 2)[batch["valid"]])  # [pixels, V, T]
        per_variable = torch.cat(values).transpose(0, 1).flatten(1).numpy().astype(np.float64)
        mean, std = per_variable.mean(axis=1), np.maximum(per_variable.std(axis=1), 1e-12)
        threshold = mean + self.settings["attribution_sigma"] * std
        for name, value in (("mean", mean), ("std", std), ("threshold", threshold)):
            getattr(self.model, name).copy_(torch.from_numpy(value.astype(np.float32)))
        return {"attribution_thresholds": threshold.tolist()}
