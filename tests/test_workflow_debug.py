"""terraflux.workflow.debug: a rule's script run outside Snakemake gets the job Snakemake would run."""

import hashlib
import shutil
import subprocess
import sys

from terraflux.errors import ConfigError, DataError
from terraflux.workflow.debug import load_job, mock_snakemake, run_script

import pytest

from support import tiny_demo
from support.configs import config_path, load_config
from support.workflow import snakemake

TINY = config_path("tiny")
DATASET = f"resources/{tiny_demo.RUN}/ide/benchmark/dataset.zarr"


def test_mock_snakemake_expands_the_rule_for_the_wildcards_and_the_config(tmp_path):
    job = mock_snakemake("ide_dataset", configfile=TINY, directory=tmp_path, dataset="benchmark")
    tiny = load_config("tiny")
    assert job.rule == "ide_dataset" and job.config["run"]["name"] == tiny["run"]["name"]
    assert dict(job.wildcards.items()) == {"dataset": "benchmark"}
    assert job.input.benchmark == f"resources/{tiny_demo.RUN}/ide/benchmark.zarr"
    assert job.input.code.startswith(".snakemake/terraflux-code/")
    assert job.output.store == DATASET and list(job.log) == [f"logs/{tiny_demo.RUN}/ide_dataset_benchmark.log"]
    assert job.params.dataset == "benchmark" and job.params.period == {}  # params functions evaluated
    assert job.threads == tiny["compute"]["prepare"]["threads"]
    assert job.resources.mem_mb == tiny["compute"]["prepare"]["mem_mb"]
    assert job.config["ide"]["benchmark"]["height"] == tiny["ide"]["benchmark"]["height"]  # the file over the defaults


def test_unknown_rule_wrong_wildcards_and_missing_inputs_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="no rule 'ide_datset'.*did you mean ide_dataset"):
        load_job("ide_datset", [TINY], tmp_path)
    with pytest.raises(ConfigError, match=r"takes the wildcards \['dataset'\] \(given: backbone\)"):
        load_job("ide_dataset", [TINY], tmp_path, backbone="cnn3d")
    with pytest.raises(DataError, match=r"input\(s\) missing.*resources/tiny/ide/benchmark\.zarr"):
        run_script(load_job("ide_dataset", [TINY], tmp_path, dataset="benchmark"))
    assert not (tmp_path / DATASET).exists() and not (tmp_path / "logs").exists()  # nothing was run


def _digests(root):
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".snakemake_timestamp"  # Snakemake's marker in directory outputs
    }


@pytest.mark.slow
def test_script_run_by_the_debug_helper_writes_what_the_snakemake_job_wrote(tmp_path):
    snakemake("--cores", "1", DATASET, "--configfile", str(TINY), workdir=tmp_path)
    by_snakemake = tmp_path / "by_snakemake.zarr"
    shutil.move(tmp_path / DATASET, by_snakemake)
    cmd = [
        sys.executable,
        "-m",
        "terraflux.workflow.debug",
        "ide_dataset",
        "dataset=benchmark",
        "--configfile",
        str(TINY),
        "--directory",
        str(tmp_path),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    # bit-identical, provenance included: the same input, params, config, rule and paths as the job's
    assert _digests(tmp_path / DATASET) == _digests(by_snakemake)
    assert (
        "wrote resources/tiny/ide/benchmark/dataset.zarr"
        in (tmp_path / f"logs/{tiny_demo.RUN}/ide_dataset_benchmark.log").read_text()
    )
