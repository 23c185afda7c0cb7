"""Where things are: the checkout, the test configs and workers, the real sample files, the binaries."""

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TESTS = REPO_ROOT / "tests"
CONFIGS = TESTS / "configs"
WORKERS = TESTS / "support" / "workers"
# Real files from the services, in a copy of shared/ beside the clone (CI has one; see tests/conftest.py).
SAMPLES = REPO_ROOT.parent / "shared" / "samples"
# The binaries of the environment running the tests (snakemake, snakefmt), whatever is first on PATH.
BIN = Path(sys.executable).parent
