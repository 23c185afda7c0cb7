"""The one place that decides where a run's files go.

Every path of the workflow is built from these helpers (in ``workflow/rules/common.smk`` and in tests), so
the folders and the run name are decided once::

    resources/{run}/...   raw downloads or synthetic files, prepared stores, process-model output
    results/{run}/...     model checkpoints, predictions, metrics, evaluation, report
    logs/{run}/...        one log per job
    benchmarks/{run}/...  one Snakemake benchmark TSV per job
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunPaths:
    """Paths of one run, relative to ``root`` (the working directory of Snakemake by default)."""

    run: str
    root: Path = Path(".")

    def _join(self, top: str, path: str) -> str:
        base = self.root / top / self.run
        return str(base / path) if path else str(base) + "/"

    def resources(self, path: str = "") -> str:
        return self._join("resources", path)

    def raw(self, path: str = "") -> str:
        return self._join("resources", f"raw/{path}" if path else "raw")

    def results(self, path: str = "") -> str:
        return self._join("results", path)

    def logs(self, path: str = "") -> str:
        return self._join("logs", path)

    def benchmarks(self, path: str = "") -> str:
        return self._join("benchmarks", path)

    def report(self) -> str:
        return self._join("results", "report.html")
