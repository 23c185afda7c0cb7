"""SimpleNet (Liu et al., "SimpleNet: a simple network for image anomaly detection and localization", CVPR
2023, arXiv:2303.15140), adapted to drivers: features of a voxel are its 3 x 3 x 3 neighbourhood of
normalised anomalies (there is no pre-trained extractor for these variables), a per-variable linear feature
adaptor maps them to ``hidden`` features, anomalous features are the adapted features of normal voxels plus
Gaussian noise (std ``NOISE_STD`` x the features' RMS in the batch, so that shrinking the features cannot
make the noise large), and a per-variable discriminator D (two 1 x 1 layers) is trained with the
truncated L1 loss max(0, 0.5 - D(normal)) + max(0, 0.5 + D(noisy)) on the voxels of normal pixels (no (loose)
extreme in the window): one-class, the extremes are not used. Score sigmoid(-D): above 0.5 where D < 0."""

from __future__ import annotations

from terraflux.ide.baselines.base import DRIVER_SCORE, NetworkBaseline, bag_logit
from terraflux.ide.model import grouped_conv

import torch
import torch.nn.functional as F
from torch import nn

NOISE_STD = 0.5
MARGIN = 0.5  # SimpleNet's truncation threshold th
DISCRIMINATOR_WIDTH = 4  # hidden units of the discriminator per adapted feature


class AdaptorDiscriminator(nn.Module):
    def __init__(self, variables: int, channels: int, hidden: int):
        super().__init__()
        self.variables = variables
        self.adaptor = grouped_conv(variables, channels, hidden)
        self.adaptor.requires_grad_(False)
        self.discriminator = nn.Sequential(
            grouped_conv(variables, hidden, DISCRIMINATOR_WIDTH * hidden, kernel=1),
            nn.LeakyReLU(0.2),
            grouped_conv(variables, DISCRIMINATOR_WIDTH * hidden, 1, kernel=1),
        )

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        n, v, c, t, h, w = x.shape
        q = self.adaptor(x.reshape(n, v * c, t, h, w))
        d = self.discriminator(q)  # [N, V, T, H, W]
        scores = torch.sigmoid(-d)
        out = {"d": d, "scores": scores, "logits": bag_logit(scores.flatten(1, 2).amax(dim=1))}
        out["drivers"] = scores > DRIVER_SCORE
        if self.training:
            scale = q.pow(2).mean().sqrt().detach()
            out["d_noisy"] = self.discriminator(q + NOISE_STD * scale * torch.randn_like(q))
        return out


class SimpleNet(NetworkBaseline):
    label = "SimpleNet"

    def build(self, variables: int, channels: int, weeks: int) -> AdaptorDiscriminator:
        return AdaptorDiscriminator(variables, channels, self.settings["hidden"])

    def loss(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        normal = batch["normal"][:, None, None].expand_as(out["d"])
        if not normal.any():
            return out["d"].sum() * 0.0
        return F.relu(MARGIN - out["d"][normal]).mean() + F.relu(MARGIN + out["d_noisy"][normal]).mean()
