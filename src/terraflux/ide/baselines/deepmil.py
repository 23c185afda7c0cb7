"""DeepMIL (Sultani, Chen and Shah, "Real-world anomaly detection in surveillance videos", CVPR 2018,
arXiv:1801.04264), adapted to drivers (:mod:`terraflux.ide.baselines.mil`): the bag's score is its highest
instance score; the loss is the ranking hinge max(0, 1 - s(positive bag) + s(negative bag)) over random pairs
of bags, plus the sparsity and temporal smoothness of the instance scores of positive bags."""

from __future__ import annotations

from terraflux.ide.baselines.mil import MILBaseline, bags, instances_of, paired, sparse_and_smooth

import torch
import torch.nn.functional as F

SPARSITY = 8e-5  # Sultani et al. 2018: lambda_1 = lambda_2 = 8e-5
SMOOTHNESS = 8e-5


class DeepMIL(MILBaseline):
    label = "DeepMIL"
    top_k = False  # the bag's score is its highest instance score

    def loss(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        pos, neg = bags(batch)
        bag = torch.sigmoid(out["logits"])
        s_pos, s_neg = paired(bag[pos], bag[neg], self.generator)
        loss = F.relu(1 - s_pos + s_neg).mean() if len(s_pos) else bag.sum() * 0.0
        return loss + sparse_and_smooth(instances_of(out["scores"], pos), SPARSITY, SMOOTHNESS)
