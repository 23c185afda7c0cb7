"""The test configurations: YAML files in ``tests/configs/``, each valid against the workflow's schema
(tests/test_configs.py checks that). Workflow tests pass them to ``snakemake --configfile``; unit tests
read the section they need."""

from pathlib import Path

import yaml

from support.paths import CONFIGS


def config_path(name: str) -> Path:
    """``tests/configs/<name>.yaml``; an unknown name is an error that lists the files there."""
    path = CONFIGS / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in CONFIGS.glob("*.yaml"))
        raise FileNotFoundError(f"no test config {path}; the test configs are {known}")
    return path


def load_config(name: str) -> dict:
    """The config as written in its file (not validated, no defaults filled in)."""
    return yaml.safe_load(config_path(name).read_text())


def configfile_args(name: str, folder: Path | None = None, extra: str = "") -> list[str]:
    """``--configfile`` arguments: the test config and, merged on top by snakemake, ``extra`` YAML
    (written to ``folder/extra.yaml``)."""
    files = [config_path(name)]
    if extra:
        if folder is None:
            raise ValueError("configfile_args: extra YAML needs a folder to be written to")
        files.append(folder / "extra.yaml")
        files[1].write_text(extra)
    return ["--configfile", *map(str, files)]
