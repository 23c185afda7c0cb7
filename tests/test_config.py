"""Config validation: defaults, clear errors naming the key, docs in sync with the schema."""

import datetime as dt

from terraflux.config import REPO_ROOT, config_hash, fill_defaults, load_schema, schema_docs, sorted_config, validate
from terraflux.errors import ConfigError
from terraflux.sources.checks import check_config

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


def test_daily_cerra_pair_is_the_default_and_needs_the_native_grid():
    assert validate({})["downscale"]["fine"] == "cerra_daily"
    reprojected = {"cerra": {"reproject_crs": "EPSG:4326"}}
    with pytest.raises(ConfigError, match=r"'cerra_daily'.*native Lambert grid.*reproject_crs.*EPSG:4326"):
        validate({"prepare": reprojected})
    weekly = validate({"downscale": {"coarse": "era5_land_weekly", "fine": "cerra_weekly"}, "prepare": reprojected})
    assert weekly["downscale"]["fine"] == "cerra_weekly"
    off = validate({"downscale": {"enabled": False}, "prepare": reprojected})
    assert off["prepare"]["cerra"]["reproject_crs"] == "EPSG:4326"


def test_downscaling_years_of_their_own_are_checked():
    pair = validate({"downscale": {"train_years": [2016], "test_years": [2019]}})["downscale"]
    assert (pair["train_years"], pair["test_years"]) == ([2016], [2019])
    with pytest.raises(ConfigError, match=r"train years hold \[2030\], outside its years .*downscale.train_years"):
        validate({"downscale": {"train_years": [2030]}})
    narrow = validate({"downscale": {"start_year": 2017, "train_years": [2017], "window": [0, 8, 2, 6]}})
    assert (narrow["downscale"]["start_year"], narrow["downscale"]["end_year"]) == (2017, None)
    with pytest.raises(ConfigError, match=r"train years hold \[2016\], outside its years 2017\.\..*start_year"):
        validate({"downscale": {"start_year": 2017}})  # the period's training years begin in 2016
    with pytest.raises(ConfigError, match=r"'downscale.end_year' \(2031\) is outside period"):
        validate({"downscale": {"end_year": 2031}})
    with pytest.raises(ConfigError, match=r"'downscale.window' \[4, 2, 0, 3\] is not"):
        validate({"downscale": {"window": [4, 2, 0, 3]}})
    with pytest.raises(ConfigError, match=r"\[2019\] are both training and test years.*downscale.train_years"):
        validate({"downscale": {"train_years": [2019]}})  # the period's test year


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


# --- relations between keys, conflicts, keys that would do nothing -----------------------------------------


@pytest.mark.parametrize(
    "region, message",
    [
        ({"north": 46.0, "south": 48.0}, r"'region.north' \(46.0\) is not north of 'region.south' \(48.0\)"),
        ({"west": 11.0, "east": 8.0}, r"'region.west' \(11.0\) is not west of 'region.east'.*antimeridian"),
        ({"west": 335.0, "east": 45.0}, r"negative longitude \(e.g. -25, not 335\)"),
        ({"west": 170.0, "east": 190.0}, r"crosses the antimeridian \(180 degrees\), which is not supported"),
    ],
)
def test_a_region_upside_down_or_across_the_antimeridian_names_the_keys(region, message):
    with pytest.raises(ConfigError, match=message):
        validate({"region": region})


@pytest.mark.parametrize(
    "sources, message",
    [
        ({"era5_land": {"hours": []}}, r"'sources.era5_land.hours': \[\] should be non-empty"),
        ({"cerra": {"hours": []}}, r"'sources.cerra.hours': \[\] should be non-empty"),
        ({"cerra": {"hours": [0, 1]}}, r"'sources.cerra.hours.1': 1 is not a multiple of 3"),
        ({"era5_land": {"hours": [0, 0]}}, r"'sources.era5_land.hours': .* non-unique"),
    ],
)
def test_empty_or_impossible_hours_fail_validation(sources, message):
    with pytest.raises(ConfigError, match=message):
        validate({"sources": sources})


def test_a_removed_key_names_its_replacement():
    with pytest.raises(
        ConfigError, match=r"unknown key 'sources.process_model' \(removed: use 'simulate.external_file'\)"
    ):
        validate({"sources": {"process_model": {"file": "pm.zarr"}}})


def test_cerra_disabled_while_the_ide_asks_for_it_names_both_keys():
    with pytest.raises(ConfigError, match=r"'sources.cerra.enabled' is false, but 'ide.datasets' asks for CERRA"):
        validate({"sources": {"cerra": {"enabled": False}}})
    with pytest.raises(ConfigError, match=r"'sources.cerra.enabled' is false, but 'evaluate.ide_models' asks"):
        validate(
            {
                "sources": {"cerra": {"enabled": False}},
                "ide": {"datasets": ["benchmark"]},
                "evaluate": {"ide_models": ["cerra_cnn3d"]},
            }
        )
    validate({"sources": {"cerra": {"enabled": False}}, "ide": {"datasets": ["benchmark", "era5_land"]}})


@pytest.mark.parametrize(
    "config, message",
    [
        (
            {"sources": {"era5_land": {"product": "daily", "hours": [0, 12]}}},
            r"'sources.era5_land.hours' is set, but it acts only with 'sources.era5_land.product: hourly'",
        ),
        (
            {"sources": {"era5_land": {"daily_statistic": "daily_maximum"}}},
            r"'sources.era5_land.daily_statistic' is set, but .* 'sources.era5_land.product: daily'",
        ),
        (
            {"sources": {"land_cover": {"pft_base_url": "https://example.org/pft"}}},
            r"'sources.land_cover.pft_base_url' is set, but .* 'sources.land_cover.product: pft'",
        ),
    ],
)
def test_a_key_the_chosen_setting_ignores_is_an_error_naming_both(config, message):
    with pytest.raises(ConfigError, match=message):
        validate(config)


def test_a_validated_config_validates_again_unchanged():
    full = validate({"sources": {"era5_land": {"product": "daily"}}})
    assert validate(full) == full  # defaults of keys that the chosen product ignores are not "set by the user"


def test_the_same_keys_are_accepted_where_they_act():
    validate({"sources": {"era5_land": {"product": "daily", "daily_statistic": "daily_maximum"}}})
    validate({"sources": {"era5_land": {"hours": [0, 12], "data_format": "grib"}}})


def test_tasks_other_than_gpus_names_both_keys():
    with pytest.raises(ConfigError, match=r"'compute.train.tasks' is 3 but 'compute.train.gpus' is 2"):
        validate({"compute": {"train": {"gpus": 2, "tasks": 3}}})
    validate({"compute": {"train": {"gpus": 0, "tasks": 3}}})  # three CPU processes
    validate({"compute": {"train": {"gpus": 2, "tasks": 2}}})


def test_plausibility_overrides_are_pairs():
    with pytest.raises(ConfigError, match=r"'prepare.plausibility.era5_land.t2m': \[200\] is too short"):
        validate({"prepare": {"plausibility": {"era5_land": {"t2m": [200]}}}})


# --- checks against the sources' facts (terraflux.sources.checks) -------------------------------------------

TODAY = dt.date(2025, 6, 1)


def checked(config: dict, today: dt.date = TODAY) -> dict:
    full = validate(config)
    check_config(full, today)
    return full


def test_accumulated_variables_need_every_hour():
    with pytest.raises(ConfigError) as error:
        checked({"sources": {"era5_land": {"hours": [0, 6, 12, 18]}}})
    text = str(error.value)
    assert "'sources.era5_land.variables' holds accumulated fields ['total_precipitation'," in text
    assert "'sources.era5_land.hours' lacks hours [1, 2, 3, 4, 5, 7," in text and "product: daily" in text
    instantaneous = ["2m_temperature", "surface_pressure"]
    checked({"sources": {"era5_land": {"hours": [0, 6, 12, 18], "variables": instantaneous}}})
    checked({"sources": {"era5_land": {"product": "daily"}}})


def test_unknown_variables_are_named_at_start():
    with pytest.raises(ConfigError, match=r"'sources.era5_land.variables' holds \['2m_temp'\]"):
        checked({"sources": {"era5_land": {"variables": ["2m_temp"]}}})
    with pytest.raises(ConfigError, match=r"'sources.cerra.forecast_variables' holds \['snowfall'\]"):
        checked({"sources": {"cerra": {"forecast_variables": ["snowfall"]}}})


def test_a_region_without_an_era5_land_grid_point_is_refused():
    with pytest.raises(ConfigError, match=r"'region' \(47.01..47.08 N, 8.0..11.0 E\) holds no ERA5-Land grid point"):
        checked({"region": {"north": 47.08, "south": 47.01}})
    checked({"region": {"north": 47.1, "south": 47.01}})


def test_the_europe_preset_is_valid_against_the_records():
    preset = yaml.safe_load((REPO_ROOT / "config" / "europe.yaml").read_text())
    assert checked(preset)["period"]["start_year"] == 1985


def test_the_europe_preset_downscales_a_window_that_fits_its_memory():
    """The pair's arrays (terraflux.spatial.downscale_data.memory_bytes) within compute.cpu_model.mem_mb, the
    window inside the cropped CERRA grid (prepare.cerra.crop)."""
    from terraflux.spatial.downscale_data import memory_bytes

    config = checked(yaml.safe_load((REPO_ROOT / "config" / "europe.yaml").read_text()))
    pair, crop = config["downscale"], config["prepare"]["cerra"]["crop"]
    x0, x1, y0, y1 = pair["window"]
    assert x1 <= crop[1] - crop[0] and y1 <= crop[3] - crop[2]
    days = (dt.date(pair["end_year"] + 1, 1, 1) - dt.date(pair["start_year"], 1, 1)).days
    need = memory_bytes(
        days, len(pair["variables"]), y1 - y0, x1 - x0, 4 * pair["encoder"]["width"], pair["diffusion"]["n_samples"]
    )
    assert need < config["compute"]["cpu_model"]["mem_mb"] * 2**20 / 2  # half: the models and temporaries on top


@pytest.mark.parametrize(
    "period, expected, advice",
    [
        (
            {"start_year": 1981},
            "NOAA VHP lacks 1981 (its record runs from week 35 of 1981 to the present); CERRA lacks 1981-1984",
            "Set 'period.start_year' to 1985 or later",
        ),
        ({"start_year": 1983}, "CERRA lacks 1983-1984 (its record runs from September 1984", "or leave CERRA out"),
        ({"end_year": 2027}, "ERA5-Land lacks 2026-2027", "Set 'period.end_year' to 2025 or earlier"),
    ],
)
def test_years_outside_a_sources_record_are_named_with_the_key_to_change(period, expected, advice):
    years = {"start_year": 1985, "end_year": 2024, **period}
    config = {
        "run": {"origin": "download"},
        "period": {**years, "train_years": [years["start_year"]], "val_years": [], "test_years": []},
    }
    with pytest.raises(ConfigError) as error:
        checked(config)
    assert expected in str(error.value) and advice in str(error.value)
    config["run"]["origin"] = "synthetic"  # the synthetic world has no record
    checked(config)


def test_without_cerra_the_period_may_start_in_1982():
    config = {
        "run": {"origin": "download"},
        "period": {"start_year": 1982, "end_year": 1990, "train_years": [1982], "val_years": [], "test_years": []},
        "sources": {"cerra": {"enabled": False}},
        "ide": {"datasets": ["benchmark", "era5_land"]},
    }
    checked(config)


@pytest.mark.parametrize(
    "plausibility, message",
    [
        ({"era5_land": {"t2": [200, 330]}}, r"'prepare.plausibility.era5_land.t2': t2 is not a era5_land variable"),
        ({"cerra": {"t2m": [330, 200]}}, r"'prepare.plausibility.cerra.t2m' is \[330, 200\]; .* low < high"),
    ],
)
def test_plausibility_overrides_name_known_variables_with_low_below_high(plausibility, message):
    with pytest.raises(ConfigError, match=message):
        checked({"prepare": {"plausibility": plausibility}})
