"""The one writer and reader of the workflow's outputs (JSON, parquet, zarr, checkpoints) and their provenance.

Every output carries the provenance record of the job that wrote it (built by
:mod:`terraflux.workflow.provenance`) as a dict under the key ``"provenance"``:

| output | where the record is |
|---|---|
| JSON file | top-level key ``"provenance"`` |
| parquet file | schema metadata ``b"provenance"`` (JSON text); other attributes under their own keys |
| zarr store | group attribute ``"provenance"`` |
| checkpoint (``.pt``) | key ``"provenance"`` of the saved dict |

:func:`provenance_of` reads it back from any of them. Everything that goes into JSON text, zarr attributes
or a checkpoint's record passes :func:`jsonable` first (the one sanitiser). Writes are atomic
(:func:`terraflux.workflow.atomic.atomic_output`): a killed job leaves no partial file under the final name.
Checkpoints hold only tensors, numbers, strings, lists and dicts, so they load with
``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

from terraflux.errors import DataError
from terraflux.workflow.atomic import atomic_output

import numpy as np

PROVENANCE = "provenance"


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: dict keys as str, tuples and arrays as lists, numpy scalars as Python
    numbers, NaN and infinities as None, dates as ISO text, paths as text, objects with ``to_dict`` (pandas,
    terraflux records) through it, other dataclasses as dicts. Anything else is an error naming its type."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, (_dt.date, _dt.datetime, np.datetime64)):
        return str(np.datetime_as_string(value) if isinstance(value, np.datetime64) else value.isoformat())
    if isinstance(value, PurePath):
        return value.as_posix()
    if hasattr(value, "to_dict"):
        return jsonable(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    raise TypeError(f"cannot write a {type(value).__name__} as JSON: {value!r:.80}")


def _with_provenance(payload: Mapping, provenance: Mapping) -> dict:
    if PROVENANCE in payload:
        raise ValueError("the payload has its own 'provenance' key: pass the record as `provenance`")
    return {**jsonable(payload), PROVENANCE: jsonable(provenance)}


def write_json(path: str | Path, payload: Mapping, provenance: Mapping) -> None:
    """Write ``payload`` (sanitised) with ``provenance`` as a JSON object (keys sorted, indented)."""
    text = json.dumps(_with_provenance(payload, provenance), indent=2, sort_keys=True, allow_nan=False) + "\n"
    with atomic_output(path) as tmp:
        tmp.write_text(text)


def write_parquet(path: str | Path, table, provenance: Mapping, attrs: Mapping | None = None) -> None:
    """Write a pandas DataFrame (without its index) or a pyarrow Table as parquet; ``provenance`` and each
    of ``attrs`` go into the schema metadata as JSON text under their own key."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not isinstance(table, pa.Table):
        table = pa.Table.from_pandas(table, preserve_index=False)
    extra = {
        str(k).encode(): json.dumps(v, sort_keys=True).encode()
        for k, v in _with_provenance(attrs or {}, provenance).items()
    }
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
    with atomic_output(path) as tmp:
        pq.write_table(table, tmp)


def write_zarr(path: str | Path, ds, provenance: Mapping, encoding: Mapping | None = None) -> None:
    """Write an xarray Dataset as a zarr (format 3) store with ``provenance`` among its attributes (the other
    attributes sanitised too); ``encoding`` as for ``Dataset.to_zarr``."""
    ds = ds.copy()
    ds.attrs = _with_provenance(ds.attrs, provenance)
    with atomic_output(path) as tmp:
        ds.to_zarr(tmp, mode="w", zarr_format=3, consolidated=False, encoding=dict(encoding or {}))


def save_checkpoint(path: str | Path, state: Mapping, provenance: Mapping | None) -> Path:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) with ``torch.save``; ``provenance`` under its
    key. Only files that are not workflow outputs (the training engine's resume state) pass None."""
    import torch

    payload = dict(state)
    if provenance is not None:
        if PROVENANCE in payload:
            raise ValueError("the state has its own 'provenance' key: pass the record as `provenance`")
        payload[PROVENANCE] = jsonable(provenance)
    path = Path(path)
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; a missing or unreadable file is a DataError."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise DataError(f"checkpoint {path} does not exist: run the stage that writes it first")
    try:
        return torch.load(path, weights_only=True, map_location=map_location)
    except Exception as error:  # truncated, corrupt, or not a safe checkpoint
        raise DataError(
            f"checkpoint {path} cannot be read ({error}); delete it and rerun the stage that writes it"
        ) from error


def provenance_of(path: str | Path) -> dict:
    """The provenance record of an output: a zarr store, a parquet, JSON or checkpoint (``.pt``) file.

    An output without a record (or with one that is not a dict) is a DataError naming the file.
    """
    path = Path(path)
    if path.is_dir():
        import zarr

        record = zarr.open_group(str(path), mode="r").attrs.get(PROVENANCE)
    elif path.suffix == ".parquet":
        import pyarrow.parquet as pq

        raw = (pq.read_schema(path).metadata or {}).get(PROVENANCE.encode())
        record = json.loads(raw) if raw is not None else None
    elif path.suffix == ".json":
        record = json.loads(path.read_text()).get(PROVENANCE)
    elif path.suffix == ".pt":
        record = load_checkpoint(path).get(PROVENANCE)
    else:
        raise DataError(f"{path}: not an output kind with a provenance record (zarr store, .parquet, .json, .pt)")
    if not isinstance(record, dict):
        raise DataError(f"{path} has no provenance record (a dict under 'provenance'); rebuild it with the workflow")
    return record
