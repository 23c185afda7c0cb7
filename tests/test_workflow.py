"""The workflow as a user runs it: dry runs, fast config errors, profiles, a real run (lint and format:
`make lint`)."""

import json
import subprocess
import time

from terraflux.workflow.debug import load_workflow

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


def test_europe_preset_dry_run_plans_every_stage():
    """The real-data preset as its header says to run it, nothing built yet: the whole DAG resolves."""
    done = subprocess.run(
        [str(BIN / "snakemake"), "--profile", "slurm", "--configfile", "config/europe.yaml", "-n", "--nolock"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for rule in ("download_era5_land_hourly", "ide_train", "dere_step5", "downscale_predict", "evaluate_ide", "all"):
        assert f"\n{rule} " in done.stdout, rule


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


@pytest.mark.parametrize(
    "text, message",
    [
        ("sources:\n  era5_land: {hours: [0, 12]}\n", "'sources.era5_land.hours' lacks hours [1, 2,"),
        ("region: {north: 40.0, south: 41.0}\n", "'region.north' (40.0) is not north of 'region.south' (41.0)"),
        ("run: {origin: download}\nperiod: {start_year: 1983, train_years: [1983]}\n", "CERRA lacks 1983"),
    ],
)
def test_config_mistakes_that_used_to_fail_late_stop_before_any_job(tmp_path, text, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    start = time.monotonic()
    done = snakemake("-n", "--nolock", "--configfile", str(bad), workdir=tmp_path, check=False)
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr
    assert time.monotonic() - start < 30


def test_single_process_rules_ask_for_one_gpu_whatever_training_asks_for(tmp_path):
    extra = tmp_path / "gpus.yaml"
    extra.write_text("compute: {train: {gpus: 2}}\n")
    with load_workflow([extra], directory=tmp_path) as workflow:
        resources = {
            rule.name: {k: v.value for k, v in rule.resources.items() if k in ("gpu", "tasks")}
            for rule in workflow.rules
        }
    for name in ("dere_step5", "dere_predict", "ide_test"):
        assert resources[name]["gpu"] == 1 and "tasks" not in resources[name], name
    for name in ("ide_train", "dere_step4"):  # data-parallel: one process per GPU
        assert resources[name]["gpu"] == 2 and resources[name]["tasks"] == 2, name
    for name in ("downscale_encoder", "downscale_train", "downscale_predict"):  # CPU-only stages
        assert resources[name] == {}, name


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
