"""Flatten IDE metrics into long score rows.

Models: ``results/{run}/ide/<dataset>_<backbone>/metrics.json`` with "extremes" and "drivers" score dicts
(drivers: "pooled" and "per_variable"). Baselines on the benchmark: ``results/{run}/ide/benchmark_table.json``
whose "metrics" maps each method to the same structure (entries named "IDE <backbone>" are the models).
"""

from __future__ import annotations

SCORES = ("f1", "iou", "precision", "recall", "overall_accuracy")


def _scores(node) -> dict:
    return (
        {k: float(v) for k, v in node.items() if k in SCORES and isinstance(v, (int, float))}
        if isinstance(node, dict)
        else {}
    )


def _task_rows(model: str, method: str, metrics: dict) -> list[dict]:
    rows = []
    for task in ("extremes", "drivers"):
        node = metrics.get(task)
        if not isinstance(node, dict):
            continue
        pooled = _scores(node.get("pooled", node))
        rows += [
            {"model": model, "method": method, "task": task, "scope": "pooled", "metric": k, "value": v}
            for k, v in pooled.items()
        ]
        per_var = node.get("per_variable", {k: v for k, v in node.items() if isinstance(v, dict) and k != "pooled"})
        for var, sub in per_var.items():
            rows += [
                {"model": model, "method": method, "task": task, "scope": str(var), "metric": k, "value": v}
                for k, v in _scores(sub).items()
            ]
    return rows


def baselines_of(table: dict) -> dict:
    """The baseline methods of a benchmark table JSON (every entry of "metrics" that is not an IDE model)."""
    return {name: sub for name, sub in table.get("metrics", {}).items() if not name.startswith("IDE ")}


def score_rows(model: str, metrics: dict, baselines: dict | None = None) -> list[dict]:
    """Rows (model, method, task, scope, metric, value) for the IDE model (method "IDE") and every baseline
    in ``baselines`` {method: metrics of the same structure}, scored on the same data."""
    rows = _task_rows(model, "IDE", metrics)
    for name, sub in (baselines or {}).items():
        rows += _task_rows(model, str(name), sub if isinstance(sub, dict) else {})
    return rows
