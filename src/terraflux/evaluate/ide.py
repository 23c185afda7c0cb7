"""Flatten IDE metrics JSON (``results/{run}/ide/<name>/metrics.json``) into long score rows."""

from __future__ import annotations

SCORES = ("f1", "iou", "precision", "recall", "accuracy")


def _scores(node) -> dict:
    return {k: float(v) for k, v in node.items() if k in SCORES and isinstance(v, (int, float))} if isinstance(node, dict) else {}


def _task_rows(model: str, method: str, metrics: dict) -> list[dict]:
    rows = []
    for task in ("extremes", "drivers"):
        node = metrics.get(task)
        if not isinstance(node, dict):
            continue
        pooled = _scores(node.get("pooled", node))
        rows += [{"model": model, "method": method, "task": task, "scope": "pooled", "metric": k, "value": v} for k, v in pooled.items()]
        per_var = node.get("per_variable", {k: v for k, v in node.items() if isinstance(v, dict) and k != "pooled"})
        for var, sub in per_var.items():
            rows += [{"model": model, "method": method, "task": task, "scope": str(var), "metric": k, "value": v} for k, v in _scores(sub).items()]
    return rows


def score_rows(model: str, metrics: dict) -> list[dict]:
    """Rows (model, method, task, scope, metric, value) for the IDE model ("IDE") and every baseline in
    ``metrics["baselines"]`` (same structure: "extremes" and/or "drivers" score dicts, optionally with
    "pooled" and per-variable entries)."""
    rows = _task_rows(model, "IDE", metrics)
    for name, sub in (metrics.get("baselines") or {}).items():
        rows += _task_rows(model, str(name), sub if isinstance(sub, dict) else {})
    return rows
