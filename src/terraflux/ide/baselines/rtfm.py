"""RTFM (Tian et al., "Weakly-supervised video anomaly detection with robust temporal feature magnitude
learning", ICCV 2021, arXiv:2101.10030), adapted to drivers (:mod:`terraflux.ide.baselines.mil`): in each bag
the k instances with the largest feature magnitude (L2 norm) are selected; their mean score is the bag's
score (BCE against the extremes), and the magnitudes are separated: (|m - ||mean top-k features of a positive
bag||| + ||mean top-k features of a negative bag||)^2 with margin m = 100 and weight 1e-4, plus the sparsity
and smoothness of the positive bags' scores (8e-4 each, Tian et al.)."""

from __future__ import annotations

from terraflux.ide.baselines.mil import (
    MagnitudeNetwork,
    MILBaseline,
    bag_bce,
    bags,
    instances_of,
    paired,
    selected_magnitudes,
    sparse_and_smooth,
)

import torch

MARGIN = 100.0
MAGNITUDE_WEIGHT = 1e-4
SPARSITY = 8e-4
SMOOTHNESS = 8e-4


class RTFM(MILBaseline):
    label = "RTFM"
    network = MagnitudeNetwork

    def loss(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        pos, neg = bags(batch)
        loss = bag_bce(out, pos, neg)
        m_pos, m_neg = paired(*selected_magnitudes(out, pos, neg), self.generator)
        if len(m_pos):
            loss = loss + MAGNITUDE_WEIGHT * ((MARGIN - m_pos).abs() + m_neg).pow(2).mean()
        return loss + sparse_and_smooth(instances_of(out["scores"], pos), SPARSITY, SMOOTHNESS)
