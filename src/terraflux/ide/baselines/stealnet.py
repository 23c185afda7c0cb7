"""STEALNet (Astrid, Zaheer and Lee, "Synthetic temporal anomaly guided end-to-end video anomaly detection",
ICCV workshops 2021), adapted to drivers (:mod:`terraflux.ide.baselines.reconstruction`): a
per-variable 3-D convolutional autoencoder (independent per variable, a channel bottleneck of one) is
trained on normal windows into which pseudo-anomalies are planted, to reconstruct the clean window, so that
it learns not to reconstruct anomalies. A pseudo-anomaly (in half of the training windows): a box of one
variable, 1 to T/2 weeks and up to a quarter of the crop wide, shifted by +-U(2, 4) standard deviations
(the scale of the benchmark's driver anomalies), where the original makes temporal pseudo-anomalies by
skipping frames."""

from __future__ import annotations

from terraflux.ide.baselines.reconstruction import ReconstructionBaseline
from terraflux.ide.model import grouped_conv

import torch
from torch import nn

PSEUDO_SHARE = 0.5
PSEUDO_AMPLITUDE = (2.0, 4.0)


def plant_pseudo_anomalies(x: torch.Tensor) -> torch.Tensor:
    """x [N, V, C, T, H, W] with a pseudo-anomaly box in a share ``PSEUDO_SHARE`` of the windows (torch's
    global generator, seeded by the engine)."""
    n, v, _, t, h, w = x.shape
    out = x.clone()
    for i in range(n):
        if torch.rand(()) >= PSEUDO_SHARE:
            continue
        var = int(torch.randint(v, ()))
        weeks = int(torch.randint(1, max(t // 2, 1) + 1, ()))
        size = int(torch.randint(1, max(min(h, w) // 4, 1) + 1, ()))
        t0, y0, x0 = (int(torch.randint(m - s + 1, ())) for m, s in ((t, weeks), (h, size), (w, size)))
        low, high = PSEUDO_AMPLITUDE
        amplitude = (low + (high - low) * torch.rand(())) * (1 if torch.rand(()) < 0.5 else -1)
        out[i, var, :, t0 : t0 + weeks, y0 : y0 + size, x0 : x0 + size] += amplitude
    return out


class Autoencoder(nn.Module):
    def __init__(self, variables: int, channels: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(
            grouped_conv(variables, channels, hidden),
            nn.ReLU(),
            grouped_conv(variables, hidden, 1),
            nn.ReLU(),
            grouped_conv(variables, 1, hidden),
            nn.ReLU(),
            grouped_conv(variables, hidden, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, v, c, t, h, w = x.shape
        seen = plant_pseudo_anomalies(x) if self.training else x
        return self.net(seen.reshape(n, v * c, t, h, w)).reshape(n, v, c, t, h, w)


class STEALNet(ReconstructionBaseline):
    label = "STEALNet"

    def network(self, variables: int, channels: int, weeks: int) -> nn.Module:
        return Autoencoder(variables, channels, self.settings["hidden"])
