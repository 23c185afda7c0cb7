"""One-class SVM (Schölkopf et al., "Estimating the support of a high-dimensional distribution", Neural
Computation 2001), from scikit-learn: one RBF-kernel SVM per variable on ``ide.baselines.svm_samples``
random training voxels (features: :func:`~terraflux.ide.baselines.base.voxel_features`), with
nu = ``ide.baselines.contamination`` (the share of training voxels left outside the support)."""

from __future__ import annotations

from terraflux.ide.baselines.base import DetectorBaseline

import numpy as np
from scipy.special import expit


class OneClassSVMBaseline(DetectorBaseline):
    """Score sigmoid(-f) of the SVM's decision function f (negative outside the support): above 0.5 exactly
    where the SVM predicts an outlier."""

    label = "one-class SVM"
    samples_key = "svm_samples"

    def detector(self, rng: np.random.Generator):
        from sklearn.svm import OneClassSVM

        return OneClassSVM(nu=self.settings["contamination"], gamma="scale")

    def score(self, detector, rows: np.ndarray) -> np.ndarray:
        return expit(-detector.decision_function(rows))
