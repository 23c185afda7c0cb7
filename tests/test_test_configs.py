"""The test configurations in tests/configs/: each is a valid workflow config and each is used by a test."""

from terraflux.config import validate

import pytest
import yaml

from support.paths import CONFIGS, TESTS

CONFIG_FILES = sorted(CONFIGS.glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIG_FILES, ids=[p.stem for p in CONFIG_FILES])
def test_config_is_valid_against_the_schema(path):
    config = yaml.safe_load(path.read_text())
    assert isinstance(config, dict), f"{path}: not a YAML mapping"
    validate(config)  # raises ConfigError naming the key


def test_every_config_is_used_by_a_test():
    sources = "\n".join(p.read_text() for p in TESTS.rglob("*.py"))
    unused = [p.name for p in CONFIG_FILES if f'"{p.stem}"' not in sources]
    assert CONFIG_FILES and not unused, f"test configs no test reads (tests/configs/): {unused}"
