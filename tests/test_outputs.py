"""The one output writer/reader: JSON sanitiser, atomic writes, provenance in every kind of output."""

import datetime as dt
import json
import random
from pathlib import Path

import terraflux  # noqa: F401  (native libraries in a safe order)
from terraflux import outputs
from terraflux.errors import DataError
from terraflux.train import seed_everything
from terraflux.train.seeding import rng_state, set_rng_state

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
import xarray as xr

RECORD = {"rule": "test", "inputs": {"a.zarr": "0" * 64}, "params": {"sizes": (1, 2)}}


def test_jsonable_makes_plain_json():
    value = {
        1: np.float32(1.5),
        "nan": float("nan"),
        "inf": np.inf,
        "ints": np.arange(3),
        "flag": np.bool_(True),
        "t": (1, 2),
        "when": dt.date(2020, 1, 2),
        "day": np.datetime64("2020-01-02"),
        "path": Path("a/b"),
        "series": pd.Series({"x": 1}),
    }
    out = outputs.jsonable(value)
    assert out == {
        "1": 1.5,
        "nan": None,
        "inf": None,
        "ints": [0, 1, 2],
        "flag": True,
        "t": [1, 2],
        "when": "2020-01-02",
        "day": "2020-01-02",
        "path": "a/b",
        "series": {"x": 1},
    }
    assert type(out["ints"][0]) is int and out["flag"] is True
    json.dumps(out, allow_nan=False)
    with pytest.raises(TypeError, match="object"):
        outputs.jsonable({"x": object()})


def test_every_output_kind_carries_its_provenance(tmp_path):
    outputs.write_json(tmp_path / "m.json", {"score": np.float64("nan"), "n": np.int64(3)}, RECORD)
    assert json.loads((tmp_path / "m.json").read_text())["score"] is None
    outputs.write_parquet(
        tmp_path / "t.parquet", pd.DataFrame({"x": [1.0, 2.0]}, index=[5, 6]), RECORD, attrs={"units": {"x": "m"}}
    )
    assert list(pd.read_parquet(tmp_path / "t.parquet").columns) == ["x"]  # no index column
    assert json.loads(pq.read_schema(tmp_path / "t.parquet").metadata[b"units"]) == {"x": "m"}
    ds = xr.Dataset({"v": ("x", np.arange(3.0))}, attrs={"units_note": np.float32(2.0)})
    outputs.write_zarr(tmp_path / "s.zarr", ds, RECORD)
    assert "provenance" not in ds.attrs  # the caller's dataset is left as it was
    assert xr.open_zarr(tmp_path / "s.zarr", consolidated=False).attrs["units_note"] == 2.0
    outputs.save_checkpoint(tmp_path / "c.pt", {"state": {"w": torch.ones(2)}}, RECORD)
    expected = outputs.jsonable(RECORD)
    for name in ("m.json", "t.parquet", "s.zarr", "c.pt"):
        assert outputs.provenance_of(tmp_path / name) == expected, name
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "c.pt",
        "m.json",
        "s.zarr",
        "t.parquet",
    ]  # nothing temporary left
    with pytest.raises(ValueError, match="provenance"):
        outputs.write_json(tmp_path / "x.json", {"provenance": {}}, RECORD)


def test_provenance_of_names_the_file_without_a_record(tmp_path):
    (tmp_path / "plain.json").write_text("{}")
    with pytest.raises(DataError, match="plain.json"):
        outputs.provenance_of(tmp_path / "plain.json")
    xr.Dataset({"v": ("x", [1.0])}, attrs={"provenance": json.dumps(RECORD)}).to_zarr(
        tmp_path / "old.zarr"
    )  # a JSON string
    with pytest.raises(DataError, match="old.zarr"):
        outputs.provenance_of(tmp_path / "old.zarr")
    with pytest.raises(DataError, match="notes.txt"):
        outputs.provenance_of(tmp_path / "notes.txt")


def test_checkpoint_roundtrip_is_weights_only_and_atomic(tmp_path):
    seed_everything(3)
    state = {"rng": rng_state(), "w": torch.arange(3.0), "best": float("inf"), "names": ["a", "b"]}
    path = outputs.save_checkpoint(tmp_path / "c.pt", state, provenance=None)
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]
    loaded = outputs.load_checkpoint(path)
    assert "provenance" not in loaded and loaded["best"] == float("inf")
    expected = (random.random(), np.random.rand(), torch.rand(1))
    set_rng_state(loaded["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1)) == expected
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="bad.pt"):
        outputs.load_checkpoint(tmp_path / "bad.pt")
    with pytest.raises(DataError, match="missing.pt"):
        outputs.load_checkpoint(tmp_path / "missing.pt")
