"""Configuration: JSON-schema validation with defaults, clear errors, hashing and documentation.

The schema lives in ``workflow/schemas/config.schema.yaml``; each top-level section refers to its own
file (``{"$ref": "dere.schema.yaml"}``) so that every layer owns the schema of its keys. Defaults in the
schema describe the embedded demo (the offline synthetic world), so an empty config runs the demo.

Command line (used by the Makefile)::

    python -m terraflux.config docs              # regenerate config/README.md from the schema
    python -m terraflux.config report-path FILE  # where the report of that config's run goes
    python -m terraflux.config summary FILE      # print where results and report are
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from terraflux.errors import ConfigError

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO_ROOT / "workflow" / "schemas"
MAIN_SCHEMA = "config.schema.yaml"

#: Keys that were removed, with the key that does their job now (named in the unknown-key message).
MOVED = {"sources.process_model": "simulate.external_file"}

#: Keys that act only with another key's value: (key, the other key, the value it needs). Setting such a key
#: to other than its default while the other key has another value is an error naming both.
ONLY_WITH = [
    ("sources.era5_land.hours", "sources.era5_land.product", "hourly"),
    ("sources.era5_land.data_format", "sources.era5_land.product", "hourly"),
    ("sources.era5_land.daily_statistic", "sources.era5_land.product", "daily"),
    ("sources.era5_land.daily_frequency", "sources.era5_land.product", "daily"),
    ("sources.land_cover.pft_base_url", "sources.land_cover.product", "pft"),
]


def load_schema(schema_dir: Path = SCHEMA_DIR) -> dict:
    """Load the main schema and inline every ``$ref`` to a sibling schema file."""

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.endswith(".yaml"):
                return inline(yaml.safe_load((schema_dir / ref).read_text()))
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    return inline(yaml.safe_load((schema_dir / MAIN_SCHEMA).read_text()))


def fill_defaults(config: dict, schema: dict) -> dict:
    """Return a copy of ``config`` with every missing key that has a schema default filled in.

    Objects without an explicit default are created empty and filled recursively, so that a missing
    section gets all its defaults.
    """
    config = copy.deepcopy(config)

    def fill(node: Any, sub: dict) -> None:
        if not isinstance(node, dict) or sub.get("type") != "object":
            return
        for key, prop in sub.get("properties", {}).items():
            if key not in node:
                if "default" in prop:
                    node[key] = copy.deepcopy(prop["default"])
                elif prop.get("type") == "object":
                    node[key] = {}
                else:
                    continue
            fill(node[key], prop)

    fill(config, schema)
    return config


def _schema_at(schema: dict, path: list) -> dict:
    node = schema
    for part in path:
        if isinstance(part, int):
            node = node.get("items", {})
        else:
            node = node.get("properties", {}).get(part, {})
    return node


def _describe(error: jsonschema.ValidationError, schema: dict) -> str:
    """One line that names the key and says what is allowed."""
    path = list(error.absolute_path)
    key = ".".join(str(p) for p in path) or "(top level)"
    if error.validator == "additionalProperties":
        allowed = sorted(_schema_at(schema, path).get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        parts = []
        for name in unknown:
            full = f"{key}.{name}" if path else name
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            if full in MOVED:
                hint = f" (removed: use '{MOVED[full]}')"
            parts.append(f"unknown key '{full}'{hint}")
        return "; ".join(parts) + f". Allowed keys here: {', '.join(allowed)}"
    if error.validator == "enum":
        allowed = ", ".join(repr(v) for v in error.validator_value)
        return f"'{key}' is {error.instance!r}; allowed values: {allowed}"
    if error.validator == "type":
        return f"'{key}' is {error.instance!r}, which is not of type {error.validator_value}"
    if error.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        words = {
            "minimum": ">=",
            "maximum": "<=",
            "exclusiveMinimum": ">",
            "exclusiveMaximum": "<",
        }
        return f"'{key}' is {error.instance!r}; it must be {words[error.validator]} {error.validator_value}"
    if error.validator == "required":
        return f"'{key}' lacks a required key: {error.message}"
    return f"'{key}': {error.message}"


def validate(config: dict, schema: dict | None = None) -> dict:
    """Fill defaults and validate; return the complete config or raise :class:`ConfigError`.

    All problems are reported at once, one line each, in a stable order.
    """
    schema = load_schema() if schema is None else schema
    full = fill_defaults(config or {}, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(full), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines = [_describe(e, schema) for e in errors]
        raise ConfigError(
            "invalid configuration:\n  - "
            + "\n  - ".join(lines)
            + "\nSee config/README.md for every key, its unit and default."
        )
    _check_consistency(full, config or {}, schema)
    return full


def _check_consistency(config: dict, given: dict, schema: dict) -> None:
    """Rules that a JSON schema cannot express (relations between keys); ``given``: the keys the user set."""
    _check_region(config["region"])
    _check_period(config["period"])
    _check_downscale_pair(config["downscale"], config["period"])
    _check_compute(config["compute"])
    _check_conflicts(config, given, schema)


def _check_region(region: dict) -> None:
    north, south, west, east = (region[k] for k in ("north", "south", "west", "east"))
    if north <= south:
        raise ConfigError(
            f"'region.north' ({north}) is not north of 'region.south' ({south}): north must be the larger latitude."
        )
    if west >= east:
        raise ConfigError(
            f"'region.west' ({west}) is not west of 'region.east' ({east}): west must be the smaller longitude. For a "
            "region that crosses the Greenwich meridian give the western edge as a negative longitude (e.g. -25, not "
            "335); a region that crosses the antimeridian (180 degrees) is not supported."
        )
    if west < 180 < east:
        raise ConfigError(
            f"'region.west' ({west}) .. 'region.east' ({east}) crosses the antimeridian (180 degrees), which is not "
            "supported: keep the region on one side of it (split the study into two regions)."
        )
    if east - west > 360:
        raise ConfigError(f"'region.west' ({west}) .. 'region.east' ({east}) spans more than 360 degrees.")


def _check_compute(compute: dict) -> None:
    for kind, spec in compute.items():
        if not isinstance(spec, dict) or not spec.get("gpus") or not spec.get("tasks"):
            continue
        if spec["tasks"] != spec["gpus"]:
            raise ConfigError(
                f"'compute.{kind}.tasks' is {spec['tasks']} but 'compute.{kind}.gpus' is {spec['gpus']}: training runs "
                "one process per GPU; set tasks to 0 (one per GPU) or equal to gpus."
            )


def _check_conflicts(config: dict, given: dict, schema: dict) -> None:
    """Keys that would be accepted but do nothing, or contradict another key."""
    for key, other, needed in ONLY_WITH:
        value = _lookup(config, other)
        default = _schema_at(schema, key.split(".")).get("default")
        if _lookup(given, key) not in (None, default) and value != needed:
            raise ConfigError(
                f"'{key}' is set, but it acts only with '{other}: {needed}' and '{other}' is '{value}': remove "
                f"'{key}' or set '{other}: {needed}'."
            )
    reprojected = str(config["prepare"]["cerra"]["reproject_crs"]).strip().lower() not in ("", "none")
    if config["downscale"]["enabled"] and config["downscale"]["fine"] == "cerra_daily" and reprojected:
        raise ConfigError(
            "'downscale.fine' is 'cerra_daily', which is prepared on CERRA's native Lambert grid only, but "
            f"'prepare.cerra.reproject_crs' is '{config['prepare']['cerra']['reproject_crs']}': set it to 'none' or "
            "use 'downscale.fine: cerra_weekly'."
        )
    if not config["sources"]["cerra"]["enabled"]:
        wanted = [
            key
            for key, asks in (
                ("ide.datasets", "cerra" in config["ide"]["datasets"]),
                ("evaluate.ide_models", any(m.startswith("cerra_") for m in config["evaluate"]["ide_models"])),
            )
            if asks
        ]
        if wanted:
            raise ConfigError(
                f"'sources.cerra.enabled' is false, but '{wanted[0]}' asks for CERRA: remove cerra from "
                f"'{wanted[0]}' (its default includes it) or set 'sources.cerra.enabled: true'."
            )


def _lookup(config: dict, key: str) -> Any:
    """The value at dotted ``key`` of ``config``, None when a part is missing."""
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _check_period(period: dict) -> None:
    start, end = period.get("start_year"), period.get("end_year")
    if start is not None and end is not None and start > end:
        raise ConfigError(f"'period.start_year' ({start}) is after 'period.end_year' ({end}).")
    splits = {name: period.get(f"{name}_years", []) for name in ("train", "val", "test")}
    seen: dict[int, str] = {}
    for name, years in splits.items():
        for year in years:
            if start is not None and not (start <= year <= end):
                raise ConfigError(
                    f"'period.{name}_years' holds {year}, outside period.start_year..end_year ({start}..{end})."
                )
            if year in seen:
                raise ConfigError(f"year {year} is in both 'period.{seen[year]}_years' and 'period.{name}_years'.")
            seen[year] = name


def _check_downscale_pair(downscale: dict, period: dict) -> None:
    start, end = period["start_year"], period["end_year"]
    for key in ("start_year", "end_year"):
        year = downscale[key]
        if year is not None and not start <= year <= end:
            raise ConfigError(f"'downscale.{key}' ({year}) is outside period.start_year..end_year ({start}..{end}).")
    first, last = downscale["start_year"] or start, downscale["end_year"] or end
    if first > last:
        raise ConfigError(f"'downscale.start_year' ({first}) is after 'downscale.end_year' ({last}).")
    train = downscale["train_years"] or period["train_years"]
    test = downscale["test_years"] or period["test_years"]
    for name, years in (("train", train), ("test", test)):
        outside = [year for year in years if not first <= year <= last]
        if outside:
            raise ConfigError(
                f"the downscaling pair's {name} years hold {outside}, outside its years {first}..{last}: change "
                f"'downscale.{name}_years' (empty: 'period.{name}_years') or 'downscale.start_year'/'end_year'."
            )
    window = downscale["window"]
    if window is not None and not (window[0] < window[1] and window[2] < window[3]):
        raise ConfigError(f"'downscale.window' {window} is not [x_start, x_stop, y_start, y_stop] with start < stop.")
    both = sorted(set(train) & set(test))
    if both:
        raise ConfigError(
            f"year(s) {both} are both training and test years of the downscaling pair: change "
            "'downscale.train_years' / 'downscale.test_years' (empty: the period's)."
        )


def sorted_config(node: Any) -> Any:
    """The same config with the keys of every mapping sorted (a canonical order)."""
    if isinstance(node, dict):
        return {key: sorted_config(node[key]) for key in sorted(node)}
    if isinstance(node, list):
        return [sorted_config(value) for value in node]
    return node


def read_file(path: str | Path) -> dict:
    """A YAML config file as written (not validated); a missing or unreadable file is a ConfigError."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist.") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from None


def load_file(path: str | Path) -> dict:
    """Read a YAML config file and validate it."""
    return validate(read_file(path))


def config_hash(config: Any) -> str:
    """sha256 of the canonical JSON of a config (sub)tree: the same settings give the same hash."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def schema_docs(schema: dict | None = None) -> str:
    """Markdown reference of every key: name, type, default, unit/allowed values, description."""
    schema = load_schema() if schema is None else schema
    out = [
        "# Configuration reference",
        "",
        "Generated from `workflow/schemas/` by `python -m terraflux.config docs`; a test keeps it in sync.",
        "Every key is optional: its default (the embedded offline demo) applies when it is left out.",
        "Unknown keys, wrong types and out-of-range values stop the workflow at start with a message naming the key;",
        "so do keys that contradict each other or that the chosen setting ignores, and settings the sources cannot",
        "serve (a period outside a source's record in a download run, accumulated ERA5-Land variables without every",
        "hour): `terraflux.config`, `terraflux.sources.checks`.",
        "",
    ]

    def walk(node: dict, prefix: str, depth: int) -> None:
        for key, prop in node.get("properties", {}).items():
            name = f"{prefix}{key}"
            if prop.get("type") == "object" and "properties" in prop:
                out.append(f"{'#' * min(depth + 2, 6)} `{name}`")
                out.append("")
                if prop.get("description"):
                    out.append(prop["description"])
                    out.append("")
                rows = [
                    (f"{name}.{k}", v)
                    for k, v in prop["properties"].items()
                    if not (v.get("type") == "object" and "properties" in v)
                ]
                if rows:
                    out.append("| key | type | default | description |")
                    out.append("|---|---|---|---|")
                    for full, leaf in rows:
                        out.append(_row(full, leaf))
                    out.append("")
                walk(prop, f"{name}.", depth + 1)

    walk(schema, "", 0)
    return "\n".join(out).rstrip() + "\n"


def _row(name: str, leaf: dict) -> str:
    kind = leaf.get("type", "")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if "items" in leaf and isinstance(leaf["items"], dict) and "type" in leaf["items"]:
        kind = f"list of {leaf['items']['type']}"
    default = json.dumps(leaf.get("default")) if "default" in leaf else ""
    text = leaf.get("description", "")
    if "enum" in leaf:
        text += " One of: " + ", ".join(f"`{v}`" for v in leaf["enum"]) + "."
    bounds = [
        f"{w} {leaf[k]}" for k, w in (("minimum", ">="), ("maximum", "<="), ("exclusiveMinimum", ">")) if k in leaf
    ]
    if bounds:
        text += " Range: " + ", ".join(bounds) + "."
    return f"| `{name}` | {kind} | `{default}` | {text.strip()} |".replace("``", "")


def _main(argv: list[str]) -> int:
    from terraflux.workflow.paths import RunPaths

    if not argv:
        print(__doc__)
        return 2
    command, args = argv[0], argv[1:]
    try:
        if command == "docs":
            target = REPO_ROOT / "config" / "README.md"
            target.write_text(schema_docs())
            print(f"wrote {target}")
        elif command == "report-path":
            paths = RunPaths(load_file(args[0])["run"]["name"])
            print(paths.report())
        elif command == "summary":
            paths = RunPaths(load_file(args[0])["run"]["name"])
            print(f"terraflux: results in {paths.results('')}")
            print(f"terraflux: report at  {paths.report()}")
        else:
            print(f"unknown command {command!r}\n{__doc__}", file=sys.stderr)
            return 2
    except ConfigError as err:
        print(f"terraflux: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
