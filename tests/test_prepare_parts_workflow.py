"""ERA5-Land and VHP prepared in parts by the workflow (prepare.part_years: 1): the same stores as the one-job
rules, and a part whose job was killed (no part folder) is the only part that reruns."""

import re
import shutil

import pytest

from support.configs import configfile_args
from support.prepared import assert_same_stores
from support.workflow import snakemake

pytestmark = pytest.mark.slow
STORES = [f"era5_land_{k}.zarr" for k in ("daily", "weekly", "monthly")] + ["vhp_era5_land.zarr"]
PREPARED = "resources/small/prepared"


def jobs(output: str) -> dict[str, int]:
    """The job counts of a dry run's 'Job stats' table."""
    table = output.split("Job stats:")[1].split("\n\n")[0] if "Job stats:" in output else ""
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m[1] != "total"}


@pytest.fixture(scope="module")
def one_job(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("one-job")
    snakemake("--cores", "2", *[f"{PREPARED}/{s}" for s in STORES], *configfile_args("prepare_small"), workdir=workdir)
    return workdir


def test_parts_build_the_one_job_stores_and_a_killed_part_reruns_alone(one_job, tmp_path):
    workdir = tmp_path / "parts"
    # the same raw files (mtimes kept, so that nothing upstream reruns)
    (workdir / "resources/small").mkdir(parents=True)
    for folder in ("raw", "synthetic"):
        shutil.copytree(one_job / "resources/small" / folder, workdir / "resources/small" / folder, symlinks=True)
    config = configfile_args("prepare_small", tmp_path, extra="prepare: {part_years: 1}\n")
    parts = [f"{PREPARED}/.parts/era5_land/part-{year}" for year in (2016, 2017)]
    snakemake("--cores", "2", "--notemp", *parts, *config, workdir=workdir)
    shutil.rmtree(workdir / parts[1])  # as a part killed half-way leaves it: chunks written, no part folder
    targets = [f"{PREPARED}/{s}" for s in STORES]
    planned = jobs(snakemake("-n", *targets, *config, workdir=workdir).stdout)
    # the killed part and finalise; VHP (on the ERA5-Land weekly grid) was not asked for yet: all its jobs
    vhp = {"prepare_vhp_init": 1, "prepare_vhp_part": 2, "prepare_vhp_finalise": 1}
    assert planned == {"prepare_era5_land_part": 1, "prepare_era5_land_finalise": 1, **vhp}
    snakemake("--cores", "2", *targets, *config, workdir=workdir)
    assert_same_stores(one_job / PREPARED, workdir / PREPARED, STORES)
    assert not (workdir / PREPARED / ".parts/era5_land/stores").exists()  # staging removed (temp)
    assert "Nothing to be done" in snakemake("-n", *targets, *config, workdir=workdir).stdout
