"""Fixtures and markers of the test suite; the helpers themselves are in tests/support/.

`terraflux` is imported first so native libraries load in a safe order (see terraflux/__init__.py).

Markers (registered in pyproject.toml): ``slow`` (Snakemake jobs, training runs), ``slurm`` (a real Slurm cluster),
``gpu`` (needs CUDA: skipped where torch sees no CUDA device). ``make test-fast`` leaves all three out.
"""

import os
from pathlib import Path

import terraflux  # noqa: F401  (see terraflux/__init__.py)

import pytest

from support import slurm_cluster
from support.fake_cds import FakeCDS, point_client_at
from support.paths import REPO_ROOT, SAMPLES


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` are skipped, with the reason, where torch finds no CUDA device."""
    gpu_tests = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_tests:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (torch.cuda.is_available() is False)")
    for item in gpu_tests:
        item.add_marker(skip)


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def samples() -> Path:
    """The real sample files (``../shared/samples`` beside the clone). Without them the test is skipped,
    except under CI (the ``CI`` environment variable set), where they must be there: the test fails."""
    if not SAMPLES.is_dir():
        message = f"real sample files not found at {SAMPLES} (a copy of shared/ belongs beside the clone)"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"{message}; CI runs with it, so this is an error")
        pytest.skip(message)
    return SAMPLES


@pytest.fixture
def cds(monkeypatch, tmp_path):
    """A running fake Climate Data Store (support/fake_cds.py); the environment points the cdsapi client at it
    (no rc file is read). Snakemake jobs started by the test inherit that environment."""
    with FakeCDS() as server:
        point_client_at(server.url, server.token, monkeypatch, tmp_path)
        yield server


@pytest.fixture(scope="module")
def slurm(request):
    """A running single-node Slurm shared by the test modules (support/slurm_cluster.py); skipped where
    one cannot be brought up (needs root and apt)."""
    yield from slurm_cluster.module_cluster(request)
