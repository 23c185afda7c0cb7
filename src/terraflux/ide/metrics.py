"""Binary segmentation metrics, accumulated as confusion counts.

precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2 TP / (2 TP + FP + FN),
IoU = TP / (TP + FP + FN), overall accuracy = (TP + TN) / all. Undefined ratios (0 / 0) are None.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Confusion:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, pred: np.ndarray, truth: np.ndarray, valid: np.ndarray | None = None) -> Confusion:
        pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
        if valid is not None:
            valid = np.broadcast_to(np.asarray(valid, bool), pred.shape)
            pred, truth = pred[valid], truth[valid]
        self.tp += int(np.count_nonzero(pred & truth))
        self.fp += int(np.count_nonzero(pred & ~truth))
        self.fn += int(np.count_nonzero(~pred & truth))
        self.tn += int(np.count_nonzero(~pred & ~truth))
        return self

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)

    def as_dict(self) -> dict:
        tp, fp, fn, tn = self.tp, self.fp, self.fn, self.tn

        def ratio(a: int, b: int):
            return a / b if b else None

        return {
            "precision": ratio(tp, tp + fp),
            "recall": ratio(tp, tp + fn),
            "f1": ratio(2 * tp, 2 * tp + fp + fn),
            "iou": ratio(tp, tp + fp + fn),
            "overall_accuracy": ratio(tp + tn, tp + fp + fn + tn),
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "tn": tn,
        }


def binary_metrics(pred: np.ndarray, truth: np.ndarray, valid: np.ndarray | None = None) -> dict:
    return Confusion().add(pred, truth, valid).as_dict()


def driver_metrics(pred: np.ndarray, truth: np.ndarray, variables: list[str], valid: np.ndarray | None = None) -> dict:
    """Per-variable and pooled metrics of driver maps [V, weeks, H, W]; ``valid`` [weeks, H, W]."""
    per = {name: Confusion().add(pred[v], truth[v], valid) for v, name in enumerate(variables)}
    pooled = Confusion()
    for c in per.values():
        pooled = pooled + c
    return {"pooled": pooled.as_dict(), "per_variable": {k: c.as_dict() for k, c in per.items()}}
