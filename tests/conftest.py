"""Shared test fixtures. `terraflux` is imported first so native libraries load in a safe order."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import terraflux  # noqa: F401  (see terraflux/__init__.py)

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLES = REPO_ROOT.parent / "shared" / "samples"
BIN = Path(sys.executable).parent


def snakemake(*args: str, workdir: Path | None = None, timeout: int = 600, check: bool = True) -> subprocess.CompletedProcess:
    """Run the workflow's Snakefile with the test environment's snakemake.

    With ``workdir`` the outputs (resources/, results/, logs/, .snakemake/) go there, not into the checkout.
    """
    cmd = [str(BIN / "snakemake"), "--snakefile", str(REPO_ROOT / "Snakefile")]
    if workdir is not None:
        cmd += ["--directory", str(workdir)]
    cmd += list(args)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    if check and done.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-8000:]}")
    return done


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"real sample files not found at {SAMPLES}")
    return SAMPLES
