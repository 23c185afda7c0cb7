"""Placeholder outputs for planning checks (rerun tests, DAG benchmarks) without building anything.

``snakemake --summary`` lists every output a run needs; :func:`write_placeholders` creates each one empty
(directories for zarr stores and folders), after which ``snakemake --touch --forceall`` records every job's
metadata in DAG order, so that dry runs then show exactly what a change would rerun.
"""

from __future__ import annotations

from pathlib import Path


def write_placeholders(summary: str, workdir: Path) -> int:
    """Create an empty file or directory under ``workdir`` for each output row of ``summary`` (the
    tab-separated output of ``snakemake --summary``); returns how many were created."""
    count = 0
    for line in summary.splitlines():
        fields = line.split("\t")
        if len(fields) < 6 or fields[0] == "output_file":
            continue
        path = workdir / fields[0]
        if path.suffix in ("", ".zarr"):  # directory outputs: zarr stores, site folders
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        count += 1
    return count
