"""ARNet (Wan et al., "Weakly supervised video anomaly detection via center-guided discriminative learning",
ICME 2020), adapted to drivers (:mod:`terraflux.ide.baselines.mil`): the bag's score is the mean of its top-k
instance scores, trained with the BCE of bag scores against the extremes, plus the center loss that pulls the
instance scores of every negative bag to their mean (weight 20, as the IDE paper's ARNet baseline)."""

from __future__ import annotations

from terraflux.ide.baselines.mil import MILBaseline, bag_bce, bags, instances_of

import torch

CENTER_WEIGHT = 20.0


class ARNet(MILBaseline):
    label = "ARNet"

    def loss(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        pos, neg = bags(batch)
        loss = bag_bce(out, pos, neg)
        normal = instances_of(out["scores"], neg).flatten(1)  # [bags, V*T]
        if len(normal):
            loss = loss + CENTER_WEIGHT * (normal - normal.mean(dim=1, keepdim=True)).pow(2).mean()
        return loss
