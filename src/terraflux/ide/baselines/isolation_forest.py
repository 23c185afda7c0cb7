"""Isolation forest (Liu, Ting and Zhou, "Isolation Forest", ICDM 2008, doi:10.1109/ICDM.2008.17), from
scikit-learn: one forest per variable, fitted on ``ide.baselines.isolation_forest_samples`` random training
voxels (features: :func:`~terraflux.ide.baselines.base.voxel_features`); a voxel is a driver where the forest
counts it among the ``ide.baselines.contamination`` most isolated share of the training voxels."""

from __future__ import annotations

from pathlib import Path

from terraflux.ide.baselines.base import VoxelBaseline, training_voxels, voxel_features
from terraflux.ide.windows import WindowData

import numpy as np


class IsolationForestBaseline(VoxelBaseline):
    """Score s / (s + s0) of the forest's anomaly score s (in (0, 1], Liu et al.'s 2^(-E[h] / c)) and its
    contamination threshold s0: above 0.5 exactly where the forest predicts an outlier."""

    label = "isolation forest"

    def fit(self, data: WindowData, workdir: Path) -> dict:
        from sklearn.ensemble import IsolationForest

        rng = np.random.default_rng(self.seed)
        self.forests = []
        for v in range(data.shape[0]):
            train = training_voxels(data, v, self.settings["isolation_forest_samples"], rng)
            forest = IsolationForest(
                contamination=self.settings["contamination"],
                random_state=int(rng.integers(2**31)),
                n_jobs=self.threads,
            )
            self.forests.append(forest.fit(train))
        return {"thresholds": [float(-f.offset_) for f in self.forests]}

    def voxel_scores(self, inputs: np.ndarray) -> np.ndarray:
        out = []
        for v, forest in enumerate(self.forests):
            feats = voxel_features(inputs[v, 0])
            s = -forest.score_samples(feats.reshape(-1, feats.shape[-1])).reshape(feats.shape[:-1])
            out.append(s / (s - forest.offset_))
        return np.stack(out).astype(np.float32)
