"""Baselines for driver detection, on the same normalised data, windows and metrics as the IDE model.

Every method implements :class:`terraflux.ide.baselines.base.Baseline` (fit on the training split, predict
windows as per-variable driver masks and extremes probabilities) in a module of its own; :data:`METHODS`
names them (config ``ide.baselines.methods``), :func:`run` fits one and scores the test and validation
splits. The IDE paper's table (Shams Eddin and Gall, NeurIPS 2024, arXiv:2410.24075) compares these:

- statistical: ``naive`` (anomaly threshold), ``isolation_forest``;
- one-class: ``one_class_svm``, ``simplenet``;
- multiple-instance learning with extremes as weak labels: ``deepmil``, ``arnet``, ``rtfm``, ``mgfn``;
- reconstruction: ``uniad``, ``stealnet``;
- attribution on a plain extremes classifier: ``integrated_gradients``, ``integrated_gradients_input``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from terraflux.ide.windows import WindowData

import numpy as np

# method -> its class, in the module of this package named as the method
METHODS = {
    "naive": "NaiveThreshold",
    "isolation_forest": "IsolationForestBaseline",
    "one_class_svm": "OneClassSVMBaseline",
    "simplenet": "SimpleNet",
    "deepmil": "DeepMIL",
    "arnet": "ARNet",
    "rtfm": "RTFM",
    "mgfn": "MGFN",
    "uniad": "UniAD",
    "stealnet": "STEALNet",
    "integrated_gradients": "IntegratedGradients",
    "integrated_gradients_input": "IntegratedGradientsInput",
}
SPLITS_SCORED = ("test", "val")


def method_class(method: str) -> type:
    """The :class:`~terraflux.ide.baselines.base.Baseline` subclass of a method of :data:`METHODS`."""
    if method not in METHODS:
        raise ValueError(f"ide.baselines.methods: unknown method {method!r}; choose from {sorted(METHODS)}")
    return getattr(importlib.import_module(f"{__name__}.{method}"), METHODS[method])


def run(
    method: str,
    data: WindowData,
    truth: np.ndarray | None,
    has_truth: np.ndarray | None,
    *,
    settings: dict,
    sampling: dict,
    threshold: float,
    tile: int,
    seed: int,
    threads: int | None,
    workdir: Path,
) -> dict:
    """Fit ``method`` and score it like the IDE model (:func:`terraflux.ide.stages.evaluate`): the test split's
    metrics at the top level (the layout of the model's ``metrics.json``), the validation split's under "val"
    (when it has windows),
    plus "method" (the key), "label" (its name in the table) and "fit" (the method's fit summary).

    ``settings``: config ``ide.baselines``; ``sampling``: config ``ide.train`` crop, batch_size and
    positive_fraction; ``threshold``: of the extremes probability (``ide.thresholds``); ``truth`` [V, T, H, W]
    with ``has_truth`` [V]: true drivers (:func:`terraflux.ide.dataset.truth_drivers`), or None.
    """
    from terraflux.ide.stages import evaluate

    baseline = method_class(method)(settings, sampling, seed, threads)
    summary = baseline.fit(data, workdir)
    scored = {
        split: evaluate(baseline.predict(data, split, tile), data, split, threshold, truth, has_truth)
        for split in SPLITS_SCORED
        if len(data.target_weeks(split))
    }
    if "test" not in scored:
        raise ValueError(f"{data.path}: no test window of {data.weeks} weeks to score {method} on")
    val = {"val": scored["val"]} if "val" in scored else {}
    return {**scored["test"], **val, "method": method, "label": baseline.label, "fit": summary}
