"""Reproducible rebuild: two clean runs of the tiny demo in separate directories give bit-identical prepared
stores, checkpoints, predictions and metrics on CPU (sha256 of every file, logs and benchmarks excluded),
and every output carries provenance (config hash, package version, git commit, input checksums)."""

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

from support import tiny_demo
from support.paths import BIN, REPO_ROOT

pytestmark = pytest.mark.slow

# Snakemake's own marker in directory outputs (its mtime is the point, not its content)
NOT_DATA = {".snakemake_timestamp"}
PROVENANCE_KEYS = {"rule", "config_hash", "package_version", "git_commit", "inputs"}


def _start(workdir: Path) -> subprocess.Popen:
    cmd = [str(BIN / "snakemake"), *tiny_demo.TARGETS, "--snakefile", str(REPO_ROOT / "Snakefile"), "--directory", str(workdir),
           "--cores", "1", *tiny_demo.config_args(workdir)]
    log = open(workdir / "snakemake.out", "w")
    return subprocess.Popen(["timeout", "-s", "KILL", "600", *cmd], cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    """Two clean runs, side by side (one core each)."""
    dirs = [tmp_path_factory.mktemp(name) for name in ("first", "second")]
    procs = [_start(d) for d in dirs]
    for proc, workdir in zip(procs, dirs):
        assert proc.wait() == 0, (workdir / "snakemake.out").read_text()[-5000:]
    return dirs[0], dirs[1]


def checksums(workdir: Path) -> dict[str, str]:
    """sha256 of every data file under resources/ and results/ (relative path -> digest)."""
    sums = {}
    for top in ("resources", "results"):
        for path in sorted((workdir / top).rglob("*")):
            if path.is_file() and path.name not in NOT_DATA:
                sums[path.relative_to(workdir).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return sums


def test_two_clean_runs_are_bit_identical(two_runs):
    first, second = map(checksums, two_runs)
    assert first.keys() == second.keys()
    different = sorted(name for name in first if first[name] != second[name])
    assert not different, f"files that differ between two clean runs: {different}"
    # what is compared: prepared stores, trained weights, predictions and metrics
    assert any(name.startswith(f"resources/{tiny_demo.RUN}/ide/benchmark.zarr/") for name in first)
    for name in ("checkpoint.pt", "metrics.json"):
        assert f"{tiny_demo.IDE}/{name}" in first
    assert any(name.startswith(f"{tiny_demo.IDE}/predictions.zarr/") for name in first)


# Figures are views of the metrics and predictions beside them (which carry the record) and go into the
# report; every data output (stores, tables, checkpoints, metrics) must carry its own record.
VIEWS = {".png", ".svg", ".pdf", ".html"}


def outputs(workdir: Path) -> list[Path]:
    """The data outputs of the run: files, and zarr stores as a whole (figures excluded, see VIEWS)."""
    found = []
    for top in ("resources", "results"):
        for path in sorted((workdir / top).rglob("*")):
            if path.suffix == ".zarr":
                found.append(path)
            elif path.is_file() and ".zarr/" not in path.as_posix() and path.name not in NOT_DATA and path.suffix not in VIEWS:
                found.append(path)
    return found


def provenance_of(path: Path) -> dict | None:
    if path.suffix == ".zarr":
        return json.loads((path / "zarr.json").read_text()).get("attributes", {}).get("provenance")
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        return data.get("provenance", data if "config_hash" in data else None)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        meta = pq.read_schema(path).metadata or {}
        raw = meta.get(b"provenance")
        return json.loads(raw) if raw else None
    if path.suffix == ".pt":
        return torch.load(path, weights_only=True, map_location="cpu").get("provenance")
    return None


def test_every_output_carries_provenance(two_runs):
    missing = {}
    for path in outputs(two_runs[0]):
        record = provenance_of(path)
        if not record or not PROVENANCE_KEYS <= set(record):
            missing[path.relative_to(two_runs[0]).as_posix()] = sorted(record) if record else None
    assert not missing, f"outputs without a full provenance record ({sorted(PROVENANCE_KEYS)}): {missing}"
