"""Flatten IDE score files into long score rows.

Score files: the models' ``results/{run}/ide/<dataset>_<backbone>/metrics.json`` and the baselines'
``results/{run}/ide/baselines/<dataset>/<method>.json``, both with "extremes" and "drivers" score dicts
(drivers: "pooled" and "per_variable") of the test split at the top level; a score file may hold the
validation split's under "val" (the baselines do).
"""

from __future__ import annotations

SCORES = ("f1", "iou", "precision", "recall", "overall_accuracy")
SPLITS = ("test", "val")
COLUMNS = ("dataset", "method", "run", "split", "task", "scope", "metric", "value")  # of score_rows


def method_label(metrics: dict) -> str:
    """The method's name in the tables: a baseline's "label"; for a model "IDE <backbone>", with its codebook
    when the score file names one (runs of several seeds share the label)."""
    if "label" in metrics:
        return str(metrics["label"])
    return " ".join(str(p) for p in ("IDE", metrics.get("backbone", "?"), metrics.get("codebook")) if p)


def _scores(node) -> dict:
    return (
        {k: float(v) for k, v in node.items() if k in SCORES and isinstance(v, (int, float))}
        if isinstance(node, dict)
        else {}
    )


def _split_rows(base: dict, metrics: dict) -> list[dict]:
    rows = []
    for task in ("extremes", "drivers"):
        node = metrics.get(task)
        if not isinstance(node, dict):
            continue
        scopes = {"pooled": node.get("pooled", node), **node.get("per_variable", {})}
        for scope, sub in scopes.items():
            rows += [
                {**base, "task": task, "scope": str(scope), "metric": k, "value": v} for k, v in _scores(sub).items()
            ]
    return rows


def score_rows(run: str, metrics: dict, dataset: str | None = None) -> list[dict]:
    """Rows (dataset, method, run, split, task, scope, metric, value) of one score file: ``run`` names the
    file (e.g. ``benchmark_cnn3d``); ``dataset`` defaults to the file's "dataset"."""
    base = {"dataset": dataset or metrics.get("dataset", "?"), "method": method_label(metrics), "run": run}
    rows = _split_rows({**base, "split": "test"}, metrics)
    if isinstance(metrics.get("val"), dict):
        rows += _split_rows({**base, "split": "val"}, metrics["val"])
    return rows
