"""Isolation forest (Liu, Ting and Zhou, "Isolation Forest", ICDM 2008, doi:10.1109/ICDM.2008.17), from
scikit-learn: one forest per variable, fitted on ``ide.baselines.isolation_forest_samples`` random training
voxels (features: :func:`~terraflux.ide.baselines.base.voxel_features`); a voxel is a driver where the forest
counts it among the ``ide.baselines.contamination`` most isolated share of the training voxels."""

from __future__ import annotations

from terraflux.ide.baselines.base import DetectorBaseline

import numpy as np


class IsolationForestBaseline(DetectorBaseline):
    """Score s / (s + s0) of the forest's anomaly score s (in (0, 1], Liu et al.'s 2^(-E[h] / c)) and its
    contamination threshold s0: above 0.5 exactly where the forest predicts an outlier."""

    label = "isolation forest"
    samples_key = "isolation_forest_samples"

    def detector(self, rng: np.random.Generator):
        from sklearn.ensemble import IsolationForest

        return IsolationForest(
            contamination=self.settings["contamination"], random_state=int(rng.integers(2**31)), n_jobs=self.threads
        )

    def score(self, detector, rows: np.ndarray) -> np.ndarray:
        s = -detector.score_samples(rows)
        return s / (s - detector.offset_)
