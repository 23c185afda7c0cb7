"""Reproducible rebuild of the whole demo DAG: two clean runs of tests/configs/repro.yaml (every layer:
synthetic raw files and truth, prepare, simulate, DERE, IDE on the benchmark, ERA5-Land and CERRA, evaluate;
toy sizes) in separate working directories give bit-identical files on CPU (sha256 of every file under
resources/ and results/), and every data output carries its provenance record, read back by
:func:`terraflux.outputs.provenance_of`."""

import hashlib
import os
import subprocess
from pathlib import Path

from terraflux.errors import DataError
from terraflux.outputs import provenance_of

import pytest

from support.configs import configfile_args, load_config
from support.paths import BIN, REPO_ROOT

# The two runs take minutes (64 jobs each, one core each).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]
RUN = load_config("repro")["run"]["name"]
# Compared by checksum: every file under resources/ and results/, except Snakemake's own marker in directory
# outputs (its modification time is its content). Logs and benchmarks (run times) lie outside those folders.
NOT_DATA = {".snakemake_timestamp"}
PROVENANCE_KEYS = {"rule", "config_hash", "package_version", "git_commit", "inputs"}


def _start(workdir: Path) -> subprocess.Popen:
    cmd = [str(BIN / "snakemake"), "--snakefile", str(REPO_ROOT / "Snakefile"), "--directory", str(workdir)]
    cmd += ["--cores", "1", *configfile_args("repro")]
    log = open(workdir / "snakemake.out", "w")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        ["timeout", "-s", "KILL", "3000", *cmd], cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env=env
    )


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    """Two clean runs of the whole DAG (``rule all``), side by side (one core each)."""
    dirs = [tmp_path_factory.mktemp(name) for name in ("first", "second")]
    procs = [_start(d) for d in dirs]
    for proc, workdir in zip(procs, dirs, strict=True):
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


# One file of every layer, so that a layer cannot drop out of the comparison unnoticed.
LAYERS = [
    f"resources/{RUN}/raw/era5_land/",
    f"resources/{RUN}/raw/cerra/",
    f"resources/{RUN}/truth/fluxes.zarr/",
    f"resources/{RUN}/prepared/era5_land_monthly.zarr/",
    f"resources/{RUN}/prepared/cerra_weekly.zarr/",
    f"resources/{RUN}/prepared/insitu_monthly.parquet",
    f"resources/{RUN}/process_model.zarr/",
    f"resources/{RUN}/dere/dataset.zarr/",
    f"results/{RUN}/dere/step6/checkpoint.pt",
    f"results/{RUN}/dere/step4/predictions.zarr/",
    f"results/{RUN}/dere/summary.json",
    f"results/{RUN}/ide/era5_land_cnn3d_lfq_seed0/predictions.zarr/",
    f"results/{RUN}/ide/baselines/benchmark/deepmil.json",
    f"results/{RUN}/evaluate/ide_table.csv",
    f"results/{RUN}/evaluate/dere_skill.csv",
    f"results/{RUN}/evaluate/spatial/step6.json",
    f"results/{RUN}/manifest.json",
]


def test_two_clean_runs_are_bit_identical(two_runs):
    first, second = map(checksums, two_runs)
    assert first.keys() == second.keys()
    different = sorted(name for name in first if first[name] != second[name])
    assert not different, f"files that differ between two clean runs: {different}"
    for prefix in LAYERS:
        assert any(name.startswith(prefix) for name in first), prefix


# Left out of the provenance check, each for its reason (they are still compared above):
# - raw files (resources/{run}/raw/): the data services' own formats (NetCDF, GRIB, zip, CSV), written exactly
#   as the services deliver them, with no place for our record;
# - figures and CSV tables for the report: formats without metadata; they are views of outputs that carry a
#   record (metrics JSON, predictions, the run manifest);
# - hidden paths (the training stages' .resume/): the engine's resume state, not an output of any rule.
VIEWS = {".png", ".svg", ".pdf", ".html", ".csv"}


def outputs(workdir: Path) -> list[Path]:
    """The data outputs of the run: files, and zarr stores as a whole (see above for what is left out)."""
    found = []
    for top in ("resources", "results"):
        for path in sorted((workdir / top).rglob("*")):
            rel = path.relative_to(workdir)
            if (
                rel.parts[2:3] == ("raw",)
                or any(part.startswith(".") for part in rel.parts)
                or ".zarr/" in rel.as_posix()
            ):
                continue
            if path.suffix == ".zarr" or (path.is_file() and path.suffix not in VIEWS):
                found.append(path)
    return found


def test_every_output_carries_provenance(two_runs):
    missing = {}
    found = outputs(two_runs[0])
    for path in found:
        try:
            record = provenance_of(path)
        except DataError as error:
            record = {"error": str(error)}
        if not PROVENANCE_KEYS <= set(record):
            missing[path.relative_to(two_runs[0]).as_posix()] = sorted(record)
    assert not missing, f"outputs without a full provenance record ({sorted(PROVENANCE_KEYS)}): {missing}"
    assert {".zarr", ".parquet", ".json", ".pt"} <= {p.suffix for p in found}
