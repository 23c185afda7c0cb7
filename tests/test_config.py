"""Config validation: defaults, clear errors naming the key, docs in sync with the schema."""

from terraflux.config import REPO_ROOT, config_hash, fill_defaults, load_schema, schema_docs, sorted_config, validate
from terraflux.errors import ConfigError

import pytest
import yaml


def test_empty_config_gets_the_demo_defaults():
    config = validate({})
    assert config["run"]["name"] == "demo"
    assert config["run"]["origin"] == "synthetic"
    assert config["period"]["train_years"] == [2016, 2017]
    assert config["compute"]["train"]["gpus"] == 1


def test_shipped_default_config_is_valid_and_equals_the_schema_defaults():
    shipped = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())
    assert validate(shipped) == validate({})


def test_unknown_key_is_named_with_a_suggestion_and_the_allowed_keys():
    with pytest.raises(ConfigError) as err:
        validate({"period": {"start_yaer": 2000}})
    text = str(err.value)
    assert "unknown key 'period.start_yaer'" in text
    assert "did you mean 'start_year'" in text
    assert "end_year" in text  # the allowed keys are listed


def test_unknown_top_level_section():
    with pytest.raises(ConfigError, match="unknown key 'regoin'.*did you mean 'region'"):
        validate({"regoin": {}})


def test_wrong_type_names_the_key_and_type():
    with pytest.raises(ConfigError, match=r"'period.start_year' is 'x', which is not of type integer"):
        validate({"period": {"start_year": "x"}})


def test_out_of_range_value_names_the_bound():
    with pytest.raises(ConfigError, match=r"'region.north' is 95; it must be <= 90"):
        validate({"region": {"north": 95}})


def test_enum_lists_the_allowed_values():
    with pytest.raises(ConfigError, match=r"'run.origin' is 'cloud'; allowed values: 'synthetic', 'download'"):
        validate({"run": {"origin": "cloud"}})


def test_all_errors_reported_at_once():
    with pytest.raises(ConfigError) as err:
        validate({"run": {"seed": -1}, "region": {"south": -100}})
    assert "'region.south'" in str(err.value) and "'run.seed'" in str(err.value)


@pytest.mark.parametrize(
    "period, message",
    [
        ({"start_year": 2020, "end_year": 2019}, "is after"),
        ({"train_years": [2016], "val_years": [2016], "test_years": []}, "in both"),
        ({"test_years": [2030]}, "outside period"),
    ],
)
def test_inconsistent_period_is_rejected(period, message):
    with pytest.raises(ConfigError, match=message):
        validate({"period": period})


def test_config_hash_is_stable_and_sensitive():
    a = validate({})
    b = validate({})
    assert config_hash(a) == config_hash(b)
    b["run"]["seed"] += 1
    assert config_hash(a) != config_hash(b)


def test_every_leaf_key_has_a_description_and_a_default():
    missing = []

    def walk(node, prefix):
        for key, prop in node.get("properties", {}).items():
            name = prefix + key
            if prop.get("type") == "object" and "properties" in prop:
                walk(prop, name + ".")
            elif "description" not in prop or "default" not in prop:
                missing.append(name)

    walk(load_schema(), "")
    assert not missing, f"schema keys without description or default: {missing}"


def test_config_readme_is_in_sync_with_the_schema():
    documented = (REPO_ROOT / "config" / "README.md").read_text()
    assert documented == schema_docs(), "config/README.md is stale: run `python -m terraflux.config docs`"


def test_fill_defaults_does_not_modify_its_argument():
    original = {"run": {"name": "x"}}
    filled = fill_defaults(original, load_schema())
    assert original == {"run": {"name": "x"}}
    assert filled["run"]["seed"] == 20240501


def test_sorted_config_gives_one_order_for_equal_configs():
    a = sorted_config({"b": {"y": 1, "x": [{"q": 1, "p": 2}]}, "a": 0})
    b = sorted_config({"a": 0, "b": {"x": [{"p": 2, "q": 1}], "y": 1}})
    assert repr(a) == repr(b)
    assert list(a) == ["a", "b"] and list(a["b"]["x"][0]) == ["p", "q"]
