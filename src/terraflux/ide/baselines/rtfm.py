"""RTFM (Tian et al., "Weakly-supervised video anomaly detection with robust temporal feature magnitude
learning", ICCV 2021, arXiv:2101.10030), adapted to drivers (:mod:`terraflux.ide.baselines.mil`): in each bag
the k instances with the largest feature magnitude (L2 norm) are selected; their mean score is the bag's
score (BCE against the extremes), and the magnitudes are separated: (|m - ||mean top-k features of a positive
bag||| + ||mean top-k features of a negative bag||)^2 with margin m = 100 and weight 1e-4, plus the sparsity
and smoothness of the positive bags' scores (8e-4 each, Tian et al.)."""

from __future__ import annotations

from terraflux.ide.baselines.mil import MagnitudeMILBaseline, paired, sparse_and_smooth

import torch

MARGIN = 100.0
MAGNITUDE_WEIGHT = 1e-4
SPARSITY = 8e-4
SMOOTHNESS = 8e-4


class RTFM(MagnitudeMILBaseline):
    label = "RTFM"

    def magnitude_loss(self, m_pos: torch.Tensor, m_neg: torch.Tensor, scores_pos: torch.Tensor) -> torch.Tensor:
        loss = sparse_and_smooth(scores_pos, SPARSITY, SMOOTHNESS)
        m_pos, m_neg = paired(m_pos, m_neg, self.generator)
        if len(m_pos):
            loss = loss + MAGNITUDE_WEIGHT * ((MARGIN - m_pos).abs() + m_neg).pow(2).mean()
        return loss
