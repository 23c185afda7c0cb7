# Shared set-up for every rules file (validated config, run paths, resources, library sources).
# Each later rule file appends its final targets to ALL_TARGETS.

import sys
from pathlib import Path

import terraflux  # first: loads native libraries in a safe order (see terraflux/__init__.py)
from terraflux.config import validate, config_hash, sorted_config
from terraflux.errors import ConfigError
from terraflux.sources.checks import check_config as check_sources
from terraflux.sources.download.delivery import request_sidecar, sha256_sidecar
from terraflux.workflow.codestamp import update_stamp
from terraflux.workflow.paths import RunPaths

try:
    _validated = validate(config)
    check_sources(_validated)
except ConfigError as _error:
    sys.exit(f"terraflux: {_error}")
# Keys sorted at every level: a rule's params (config subtrees) then compare equal whatever the order of
# keys in the YAML file or schema, so the params rerun trigger fires only on real changes.
config.clear()
config.update(sorted_config(_validated))

PATHS = RunPaths(config["run"]["name"])
resources_path = PATHS.resources
raw = PATHS.raw
results = PATHS.results
logs = PATHS.logs
benchmarks = PATHS.benchmarks

# Priority of the rules on the workflow's longest serial chain: the ERA5-Land and CERRA files (synthetic world)
# and their preparation, then the downscaling stages (about 6 minutes of one core in the demo). The scheduler
# starts each as soon as it can run, so the chain overlaps the many shorter jobs of the other layers instead
# of running alone at the end (docs/performance.md).
CHAIN_PRIORITY = 10

YEARS = list(range(config["period"]["start_year"], config["period"]["end_year"] + 1))
ALL_TARGETS = []

REPO = Path(workflow.basedir)
LIBRARY_ROOT = REPO / "src" / "terraflux"
# The pinned environment, for `--software-deployment-method conda` (rules refer to it with `conda: ENV`).
ENV = str(REPO / "envs" / "environment.yaml")


def repo_file(path):
    """A file of the checkout (inputs are otherwise relative to the working directory)."""
    return str(REPO / path)


def code_stamp(*packages):
    """The library packages and modules that a script imports, as one input file (a code stamp).

    ``packages`` are paths below src/terraflux, glob patterns allowed, modules without ``.py``: a package
    folder stands for every file in it (its modules and data files), a module for its file; the packages above each come with their ``__init__.py`` (Python
    runs them on import), and the core modules every script uses come always. Declared as an input, so that
    editing e.g. the DERE model reruns DERE training, while editing plotting code does not (Snakemake does not
    track modules a script imports; tests/test_code_stamps.py checks that each rule lists what its script
    imports). Returns the stamp (terraflux.workflow.codestamp): one file whose modification time is the newest
    of the sources' and whose name changes with the file list, instead of every source file, for speed.
    """
    # outputs.py: every script writes its outputs through it
    core = ["__init__.py", "errors.py", "config.py", "outputs.py"]
    files = {LIBRARY_ROOT / name for name in core}
    files.update((LIBRARY_ROOT / "workflow").glob("*.py"))
    for package in packages:
        targets = [
            p
            for p in sorted(LIBRARY_ROOT.glob(package))
            if p.is_dir() and p.name != "__pycache__"
        ]
        targets += sorted(LIBRARY_ROOT.glob(f"{package}.py"))
        if not targets:
            sys.exit(
                f"terraflux: code_stamp({package!r}) matches nothing under {LIBRARY_ROOT}"
            )
        for target in targets:
            if target.is_dir():
                files.update(
                    p
                    for p in target.rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts
                )
            else:
                files.add(target)
            for parent in target.relative_to(LIBRARY_ROOT).parents:
                files.add(LIBRARY_ROOT / parent / "__init__.py")
    return update_stamp("+".join(packages), sorted(files), LIBRARY_ROOT)


def job_resources(kind, single_process=False):
    """Resources for a kind of job from config['compute'][kind]: threads, mem_mb, runtime, GPU.

    ``single_process``: the rule's script runs one process (no data-parallel training), so it gets at most
    one GPU and no tasks, whatever compute.<kind>.gpus asks for the training rules.
    """
    spec = config["compute"][kind]
    res = {"mem_mb": spec["mem_mb"], "runtime": spec["runtime"]}
    gpus = min(spec.get("gpus", 0), 1) if single_process else spec.get("gpus", 0)
    if gpus:
        model = config["compute"]["gpu_model"]
        if config["compute"]["gpu_request"] == "gpu":
            res["gpu"] = gpus
            if model:
                res["gpu_model"] = model
        else:
            res["gres"] = f"gpu:{model}:{gpus}" if model else f"gpu:{gpus}"
    # with GPUs, compute.<kind>.tasks is 0 or equals gpus (terraflux.config checks it)
    tasks = 1 if single_process else spec.get("tasks", 0) or max(gpus, 1)
    if tasks > 1:
        # N processes started by srun inside the job (terraflux.train.launch.start): the plugin
        # submits --ntasks=N and does not wrap an `mpi` job in `srun -n1`.
        res.update(tasks=tasks, mpi="srun")
        if gpus:
            res["tasks_per_gpu"] = 1
    return res


def job_threads(kind):
    return config["compute"][kind]["threads"]


def plausibility_settings(source):
    """Config prepare.plausibility for the prepare job of one source (the switch and that source's overrides)."""
    settings = config["prepare"]["plausibility"]
    return {"check": settings["check"], source: settings[source]}


def request_of(pattern):
    """The request sidecar of a raw file (pattern) of the source modules."""
    return raw(str(request_sidecar(pattern)))


def sha256_of(pattern):
    """The checksum sidecar of a raw file (pattern) of the source modules."""
    return raw(str(sha256_sidecar(pattern)))
