"""MGFN (Chen et al., "MGFN: magnitude-contrastive glance-and-focus network for weakly-supervised video
anomaly detection", AAAI 2023, arXiv:2211.15098), adapted to drivers (:mod:`terraflux.ide.baselines.mil`):
the bag's score is the mean score of its top-k instances by feature magnitude (BCE against the extremes), and
the magnitude-contrastive loss (weight 1e-3) on those top-k magnitudes pulls pairs of negative bags together,
pairs of positive bags together and pushes positive from negative bags to a distance of the margin 10 (as
the IDE paper's MGFN baseline). The glance-and-focus backbone is replaced by the shared instance network."""

from __future__ import annotations

from terraflux.ide.baselines.mil import MagnitudeMILBaseline, paired

import torch

MARGIN = 10.0
CONTRAST_WEIGHT = 1e-3


class MGFN(MagnitudeMILBaseline):
    label = "MGFN"

    def magnitude_loss(self, m_pos: torch.Tensor, m_neg: torch.Tensor, scores_pos: torch.Tensor) -> torch.Tensor:
        contrast = m_pos.sum() * 0.0
        for a, b, apart in ((m_pos, m_neg, True), (m_neg, m_neg.flip(0), False), (m_pos, m_pos.flip(0), False)):
            a, b = paired(a, b, self.generator)
            if len(a):
                d = (a - b).abs()
                contrast = contrast + ((MARGIN - d).pow(2) if apart else d.pow(2)).mean()
        return CONTRAST_WEIGHT * contrast
