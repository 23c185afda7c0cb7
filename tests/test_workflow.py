"""The workflow as a user runs it: dry runs, fast config errors, profiles, a real run (lint and format:
`make lint`)."""

import json
import subprocess
import time

import pytest

from support.paths import BIN, REPO_ROOT
from support.workflow import snakemake


def test_dry_run_shows_the_dag(tmp_path):
    done = snakemake("-n", "--nolock", workdir=tmp_path)
    assert "Job stats" in done.stdout
    assert "evaluate_run_manifest" in done.stdout


def test_slurm_profile_dry_run_from_repository_root():
    done = subprocess.run(
        [str(BIN / "snakemake"), "--profile", "slurm", "-n", "--nolock"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Using profiles slurm and workflow specific profile profiles/default" in done.stderr


def test_config_typo_fails_fast_naming_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("period:\n  end_yr: 2019\n")
    start = time.monotonic()
    done = snakemake("-n", "--nolock", "--configfile", str(bad), check=False)
    elapsed = time.monotonic() - start
    assert done.returncode != 0
    assert "unknown key 'period.end_yr'" in done.stderr
    assert "did you mean 'end_year'" in done.stderr
    assert "Traceback" not in done.stderr
    assert elapsed < 30


@pytest.mark.slow
def test_run_manifest_is_written_with_provenance(tmp_path):
    snakemake("--cores", "1", "evaluate_run_manifest", workdir=tmp_path)
    manifest = json.loads((tmp_path / "results" / "demo" / "manifest.json").read_text())["provenance"]
    assert manifest["package"] == "terraflux"
    assert len(manifest["config_hash"]) == 64
    assert manifest["params"]["run"]["name"] == "demo"
    assert manifest["git_commit"]
    assert len(manifest["inputs"]["envs/requirements.lock"]) == 64  # relative: the same in every clone
    assert (tmp_path / "logs" / "demo" / "evaluate_run_manifest.log").exists()
