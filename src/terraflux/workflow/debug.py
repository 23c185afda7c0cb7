"""Run one rule's script outside Snakemake, in this Python process, for debugging.

    python -m terraflux.workflow.debug RULE [WILDCARD=VALUE ...] [--configfile FILE ...] [--directory DIR]

loads the checkout's Snakefile with the config files (merged on top of config/config.yaml, as
``snakemake --configfile`` does), finds RULE, expands it for the wildcards and runs its ``script:`` with
the ``snakemake`` object Snakemake gives a job: input, output, params, wildcards, threads, resources, log,
config and rule. Paths are relative to the working directory (DIR, default: the current one), as in a job.
The inputs must exist (build them first with ``snakemake``); outputs and log are written as a job writes
them. ``python -m pdb -m terraflux.workflow.debug ...`` stops in the debugger where the script fails.

In a notebook or a debugger, :func:`mock_snakemake` gives the object alone, to step through a script::

    from terraflux.workflow.debug import mock_snakemake
    snakemake = mock_snakemake("ide_dataset", configfile="tests/configs/tiny.yaml", dataset="benchmark")
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import runpy
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from terraflux.config import REPO_ROOT
from terraflux.errors import ConfigError, DataError

SNAKEFILE = REPO_ROOT / "Snakefile"


@dataclass
class DebugJob:
    """A rule expanded for its wildcards: the ``snakemake`` object its script receives and the script."""

    snakemake: object  # snakemake.script.Snakemake
    script: Path
    directory: Path


@contextlib.contextmanager
def load_workflow(
    configfiles: Sequence[str | Path] = (), directory: str | Path | None = None, cores: int | None = None
) -> Iterator[object]:
    """The checkout's Snakefile parsed with ``configfiles`` in ``directory`` (default: the current directory):
    a ``snakemake.workflow.Workflow`` with its rules, valid inside the ``with`` block."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, DAGSettings, OutputSettings, ResourceSettings

    workdir = Path(directory or Path.cwd()).resolve()
    missing = [str(f) for f in configfiles if not Path(f).is_file()]
    if missing:
        raise ConfigError(f"config file(s) not found: {missing}")
    config = ConfigSettings(configfiles=[Path(f).resolve() for f in configfiles])
    with SnakemakeApi(OutputSettings(enable_file_logging=False)) as api:
        workflow_api = api.workflow(
            resource_settings=ResourceSettings(cores=cores or os.cpu_count() or 1),
            config_settings=config,
            snakefile=SNAKEFILE,
            workdir=workdir,
        )
        workflow_api.dag(DAGSettings())  # the settings a DAG of the loaded workflow needs
        yield workflow_api._workflow  # the Snakefile parsed with the config (no public accessor)


def load_job(
    rule: str,
    configfiles: Sequence[str | Path] = (),
    directory: str | Path | None = None,
    cores: int | None = None,
    **wildcards: str,
) -> DebugJob:
    """Load the Snakefile in ``directory`` (default: the current directory) with ``configfiles`` and build
    the job of ``rule`` for ``wildcards``. Unknown rules, rules without a script and wrong wildcards are a
    :class:`~terraflux.errors.ConfigError` that says what is expected."""
    import snakemake.api  # noqa: F401  (first: snakemake.dag imported before it is a circular import)
    from snakemake.dag import DAG
    from snakemake.exceptions import UnknownRuleException
    from snakemake.jobs import Job
    from snakemake.script import Snakemake

    workdir = Path(directory or Path.cwd()).resolve()
    with load_workflow(configfiles, directory, cores) as workflow:
        try:
            found = workflow.get_rule(rule)
        except UnknownRuleException:
            names = sorted(r.name for r in workflow.rules)
            close = difflib.get_close_matches(rule, names, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; the rules are {', '.join(names)}"
            raise ConfigError(f"no rule {rule!r} in {SNAKEFILE}{hint}") from None
        if not found.script:
            raise ConfigError(f"rule {rule!r} has no `script:` (only a script rule can run here)")
        expected = set(found.wildcard_names)
        if set(wildcards) != expected:
            given = ", ".join(sorted(wildcards)) or "none"
            raise ConfigError(
                f"rule {rule!r} takes the wildcards {sorted(expected)} (given: {given}); "
                f"pass them as NAME=VALUE, e.g. {' '.join(f'{w}=...' for w in sorted(expected))}"
            )
        job = Job(found, DAG(workflow, rules=[found]), wildcards_dict=dict(wildcards))
        script = (Path(str(found.basedir)) / found.script).resolve()
        snakemake = Snakemake(
            job.input,
            job.output,
            job.params,
            job.wildcards,
            job.threads,
            job.resources,
            job.log,
            workflow.config,
            found.name,
            None,
            str(script.parent),
        )
    return DebugJob(snakemake, script, workdir)


def mock_snakemake(
    rule: str,
    configfile: str | Path | Sequence[str | Path] = (),
    directory: str | Path | None = None,
    **wildcards: str,
):
    """The ``snakemake`` object the script of ``rule`` receives in a job for ``wildcards``, with the
    config files ``configfile`` (one path or several); paths relative to ``directory`` (default: the
    current directory)."""
    files = [configfile] if isinstance(configfile, str | Path) else list(configfile)
    return load_job(rule, files, directory, **wildcards).snakemake


def check_inputs(job: DebugJob) -> None:
    """Missing inputs of the job are a :class:`~terraflux.errors.DataError` naming them."""
    absent = [str(path) for path in job.snakemake.input if not (job.directory / path).exists()]
    if absent:
        raise DataError(
            f"rule {job.snakemake.rule!r}: input(s) missing in {job.directory}: {absent}; "
            "build them first with snakemake (same --configfile and --directory, the missing paths as targets)"
        )


def run_script(job: DebugJob) -> None:
    """Run the job's script in this process, in its working directory, as Snakemake runs a job's script:
    the ``snakemake`` object a global, the script's folder on ``sys.path``, folders of outputs and logs
    created. Missing inputs are an error (:func:`check_inputs`); what the script raises propagates."""
    check_inputs(job)
    with contextlib.chdir(job.directory):
        for path in [*job.snakemake.output, *job.snakemake.log]:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        folder = str(job.script.parent)
        sys.path.append(folder)
        try:
            runpy.run_path(str(job.script), init_globals={"snakemake": job.snakemake}, run_name="__main__")
        finally:
            sys.path.remove(folder)


def _wildcard(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return name, value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m terraflux.workflow.debug",
        description="Run one rule's script outside Snakemake, in this process, for debugging.",
    )
    parser.add_argument("rule", help="the rule whose script to run")
    parser.add_argument("wildcards", nargs="*", type=_wildcard, help="the job's wildcards as NAME=VALUE")
    parser.add_argument("--configfile", nargs="+", default=[], help="config files, as for snakemake")
    parser.add_argument("--directory", "-d", default=None, help="working directory (default: the current one)")
    parser.add_argument("--cores", type=int, default=None, help="cores the job may use (default: all)")
    args = parser.parse_args(argv)
    try:
        job = load_job(args.rule, args.configfile, args.directory, args.cores, **dict(args.wildcards))
        check_inputs(job)
    except (ConfigError, DataError) as error:
        print(f"terraflux debug: {error}", file=sys.stderr)
        return 1
    print(f"terraflux debug: running {job.script} for rule {args.rule} in {job.directory}", file=sys.stderr)
    run_script(job)  # an error in the script: one line on stderr, the traceback in the rule's log (as in a job)
    return 0


if __name__ == "__main__":
    sys.exit(main())
