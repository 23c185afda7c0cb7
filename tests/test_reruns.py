"""Partial reruns, checked with ``snakemake -n`` (the jobs and their ``reason:``): a change reruns exactly
the stages it affects. (``--list-changes params`` of snakemake 9.27 lists every output even when nothing
changed, so the dry run's plan and reasons are what is asserted.)

The workflow runs from a copy of the checkout (so model and plotting code can be edited without touching
the shared one). Its outputs are made up to date with ``snakemake --touch`` on placeholder files: touch
records the same metadata as a run (params, code, input set, software stack), so what a dry run then plans
is what a real rerun would do. The stages exercised are those in ``tiny_demo.TARGETS`` (and DERE step 4,
once the DERE rules exist).
"""

import re
import shutil
import subprocess
from pathlib import Path

from terraflux.sources import era5_land
from terraflux.workflow.paths import RunPaths
from terraflux.workflow.placeholders import write_placeholders

import pytest

from support import tiny_demo
from support.configs import configfile_args
from support.paths import BIN, REPO_ROOT

IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "resources",
    "results",
    "logs",
    "benchmarks",
    ".snakemake",
    "__pycache__",
    "tests",
    "bench",
    "*.egg-info",
)


def smk(repo: Path, workdir: Path, *args: str, timeout: int = 300) -> str:
    cmd = [
        str(BIN / "snakemake"),
        "--snakefile",
        str(repo / "Snakefile"),
        "--directory",
        str(workdir),
        "--nolock",
        *args,
    ]
    done = subprocess.run(["timeout", "-s", "KILL", str(timeout), *cmd], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, f"snakemake {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done.stdout + done.stderr


def materialize(repo: Path, workdir: Path, targets: list[str], config: list[str]) -> None:
    """Placeholders for every output the targets need, then ``--touch --forceall``: every job is "run" by
    touching its outputs in DAG order, which records its metadata (params, code, input set)."""
    summary = smk(repo, workdir, *targets, *config, "--summary")
    assert write_placeholders(summary, workdir) > 0, summary[-2000:]
    smk(repo, workdir, *targets, *config, "--touch", "--forceall", "--cores", "1")


def dry_run(repo: Path, workdir: Path, targets: list[str], config: list[str]) -> tuple[dict[str, int], str]:
    """Rule -> number of jobs a dry run would execute (empty when everything is up to date), and its output."""
    out = smk(repo, workdir, *targets, *config, "-n")
    if "Nothing to be done" in out:
        return {}, out
    table = out.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    jobs = dict(re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)\s+(\d+)\s*$", table, re.MULTILINE))
    return {rule: int(n) for rule, n in jobs.items() if rule not in ("total", "job")}, out


def plan(repo: Path, workdir: Path, targets: list[str], config: list[str]) -> dict[str, int]:
    return dry_run(repo, workdir, targets, config)[0]


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("checkout") / "terraflux"
    shutil.copytree(REPO_ROOT, copy, ignore=IGNORE, symlinks=True)
    return copy


@pytest.fixture(scope="module")
def built(repo, tmp_path_factory):
    """A working directory where the tiny demo's targets are up to date."""
    workdir = tmp_path_factory.mktemp("built")
    config = tiny_demo.config_args(workdir)
    materialize(repo, workdir, tiny_demo.TARGETS, config)
    assert plan(repo, workdir, tiny_demo.TARGETS, config) == {}
    return workdir


def _dere_rules(repo: Path) -> str:
    return "\n".join(p.read_text() for p in (repo / "workflow" / "rules").glob("dere*.smk"))


@pytest.mark.slow
def test_hyperparameter_change_reruns_training_and_dependants_only(repo, built):
    config = tiny_demo.config_args(built, "ide: {train: {lr: 0.002}}\n")
    # the run manifest records the whole config, so it follows every config change
    jobs, dry = dry_run(repo, built, tiny_demo.TARGETS, config)
    assert jobs == {"ide_train": 1, "ide_test": 1, "evaluate_run_manifest": 1}
    assert re.search(r"rule ide_train:.*?reason: Params have changed", dry, re.DOTALL), dry[-3000:]


@pytest.mark.slow
def test_step4_hyperparameter_change_reruns_step4_and_dependants_not_upstream_nor_ide(repo, built):
    if "rule dere_step4" not in _dere_rules(repo):
        pytest.skip("no DERE step-4 rule in the workflow yet (workflow/rules/dere*.smk)")
    # DERE's final targets and IDE's, so that upstream DERE stages, the data layers and IDE are in view
    workdir = built.parent / "dere-step4"
    workdir.mkdir(exist_ok=True)
    targets = tiny_demo.TARGETS + tiny_demo.DERE_TARGETS
    materialize(repo, workdir, targets, tiny_demo.config_args(workdir))
    jobs = plan(repo, workdir, targets, tiny_demo.config_args(workdir, "dere: {epochs: {step4: 2}}\n"))
    assert jobs.get("dere_step4") == 1, jobs
    # what depends on step 4: its maps (dere_predict for model step4 only), the summary, evaluation
    assert jobs.get("dere_predict", 0) <= 1, jobs
    assert {rule for rule in jobs if not rule.startswith("evaluate_")} <= {
        "dere_step4",
        "dere_predict",
        "dere_summary",
    }, f"a step-4 hyperparameter reruns other stages (upstream, side models or IDE): {jobs}"


@pytest.mark.slow
def test_editing_model_code_reruns_the_training_stages_that_import_it(repo, built):
    model = repo / "src" / "terraflux" / "ide" / "model.py"
    original = model.read_text()
    try:
        model.write_text(original + "\n# an edit\n")
        config = tiny_demo.config_args(built)
        jobs, dry = dry_run(repo, built, tiny_demo.TARGETS, config)
        assert jobs == {"ide_train": 1, "ide_test": 1}
        # the updated input is the code stamp of the packages ide_train imports
        # (code_stamp("ide", "metrics", "train")), which lists ide/model.py
        stamp = re.search(
            r"rule ide_train:.*?reason: Updated input files:[^\n]*?"
            r"(\.snakemake/terraflux-code/ide\+[\w.+]*-\w+\.txt)",
            dry,
            re.DOTALL,
        )
        assert stamp, dry[-3000:]
        assert "ide/model.py" in [line.split()[1] for line in (built / stamp.group(1)).read_text().splitlines()]
    finally:
        model.write_text(original)
        shutil.copystat(REPO_ROOT / "src" / "terraflux" / "ide" / "model.py", model)


@pytest.mark.slow
def test_editing_plotting_code_reruns_no_training(repo, built):
    plotting = repo / "src" / "terraflux" / "evaluate" / "figures.py"
    if not plotting.exists():
        pytest.skip("no plotting module src/terraflux/evaluate/figures.py yet")
    original = plotting.read_text()
    try:
        plotting.write_text(original + "\n# an edit\n")
        jobs = plan(repo, built, tiny_demo.TARGETS, tiny_demo.config_args(built))
        assert all(rule.startswith("evaluate_") for rule in jobs), jobs
    finally:
        plotting.write_text(original)
        shutil.copystat(REPO_ROOT / "src" / "terraflux" / "evaluate" / "figures.py", plotting)


@pytest.mark.slow
def test_changing_the_seed_reruns_the_stochastic_stages(repo, built):
    jobs = plan(repo, built, tiny_demo.TARGETS, tiny_demo.config_args(built, "run: {seed: 7}\n"))
    assert {"ide_benchmark", "ide_train"} <= set(jobs), jobs  # the seeded generator and the seeded training
    assert set(jobs) <= {"ide_benchmark", "ide_dataset", "ide_train", "ide_test", "evaluate_run_manifest"}, jobs


@pytest.mark.slow
def test_adding_a_year_downloads_only_the_new_months(repo, tmp_path):
    target = ["resources/years/prepared/era5_land_monthly.zarr"]
    materialize(repo, tmp_path, target, configfile_args("years"))  # 2016-2018
    jobs, out = dry_run(repo, tmp_path, target, configfile_args("years", tmp_path, "period: {end_year: 2019}\n"))
    month = re.escape(RunPaths("years").raw(era5_land.PATHS["hourly"].format(year="YEAR", month="MONTH")))
    downloads = re.findall("output: " + month.replace("YEAR", r"(\d{4})").replace("MONTH", r"(\d{2})") + r"\b", out)
    assert sorted(f"{y}-{m}" for y, m in downloads) == [f"2019-{m:02d}" for m in range(1, 13)], downloads
    assert jobs.get("download_era5_land_hourly") == 12, jobs
    assert "prepare_era5_land" in jobs  # one store over the whole period (statistics from training years)


def test_code_stamp_follows_the_newest_source_and_names_the_file_list(tmp_path):
    """code_stamp() declares one code stamp per package set (terraflux.workflow.codestamp) instead of every
    source file: same rerun semantics, a fraction of Snakemake's per-file work for thousands of jobs."""
    import os

    from terraflux.workflow.codestamp import update_stamp

    root, work = tmp_path / "lib", tmp_path / "work"
    (root / "pkg").mkdir(parents=True)
    work.mkdir()
    sources = [root / "pkg" / "a.py", root / "pkg" / "b.py"]
    for i, path in enumerate(sources):
        path.write_text(f"x = {i}\n")
        os.utime(path, ns=(10**18 + i, 10**18 + i))
    stamp = update_stamp("pkg", sources, root, work)
    assert stamp.startswith(".snakemake/terraflux-code/pkg-")
    listed = (work / stamp).read_text()
    assert [line.split()[1] for line in listed.splitlines()] == ["pkg/a.py", "pkg/b.py"]
    assert (work / stamp).stat().st_mtime_ns == 10**18 + 1  # the newest source's time
    os.utime(sources[0], ns=(2 * 10**18, 2 * 10**18))  # an edit: the stamp is as new as it
    assert update_stamp("pkg", sources, root, work) == stamp
    assert (work / stamp).stat().st_mtime_ns == 2 * 10**18
    os.utime(sources[0], ns=(10**18, 10**18))  # the edit reverted with its time: the stamp goes back too
    update_stamp("pkg", sources, root, work)
    assert (work / stamp).stat().st_mtime_ns == 10**18 + 1
    # content edits change the stamp's content (Snakemake skips a newer input with the recorded checksum)
    sources[1].write_text("x = 2\n")
    update_stamp("pkg", sources, root, work)
    assert (work / stamp).read_text() != listed and (work / stamp).stat().st_mtime_ns > 10**18 + 1
    # a source added or removed: another stamp name, i.e. a changed input set (Snakemake's input trigger)
    assert update_stamp("pkg", sources[:1], root, work) != stamp
    with pytest.raises(ValueError, match="no library sources"):
        update_stamp("pkg", [], root, work)
