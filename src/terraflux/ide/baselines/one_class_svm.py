"""One-class SVM (Schölkopf et al., "Estimating the support of a high-dimensional distribution", Neural
Computation 2001), from scikit-learn: one RBF-kernel SVM per variable on ``ide.baselines.svm_samples``
random training voxels (features: :func:`~terraflux.ide.baselines.base.voxel_features`), with
nu = ``ide.baselines.contamination`` (the share of training voxels left outside the support)."""

from __future__ import annotations

from pathlib import Path

from terraflux.ide.baselines.base import VoxelBaseline, training_voxels, voxel_features
from terraflux.ide.windows import WindowData

import numpy as np
from scipy.special import expit


class OneClassSVMBaseline(VoxelBaseline):
    """Score sigmoid(-f) of the SVM's decision function f (negative outside the support): above 0.5 exactly
    where the SVM predicts an outlier."""

    label = "one-class SVM"

    def fit(self, data: WindowData, workdir: Path) -> dict:
        from sklearn.svm import OneClassSVM

        rng = np.random.default_rng(self.seed)
        self.svms = []
        for v in range(data.shape[0]):
            train = training_voxels(data, v, self.settings["svm_samples"], rng)
            self.svms.append(OneClassSVM(nu=self.settings["contamination"], gamma="scale").fit(train))
        return {"support_vectors": [int(len(s.support_)) for s in self.svms]}

    def voxel_scores(self, inputs: np.ndarray) -> np.ndarray:
        out = []
        for v, svm in enumerate(self.svms):
            feats = voxel_features(inputs[v, 0])
            f = svm.decision_function(feats.reshape(-1, feats.shape[-1])).reshape(feats.shape[:-1])
            out.append(expit(-f))
        return np.stack(out).astype(np.float32)
