"""The IDE synthetic benchmark: seeded, streaming, drivers placed exactly by the coupling windows."""

import terraflux  # noqa: F401
from terraflux.errors import ConfigError
from terraflux.ide.benchmark import design, generate, write_benchmark

import numpy as np
import pytest
import xarray as xr

from support.ide_config import benchmark_config

SMALL = dict(height=20, width=24, weeks=90, events_per_year=10.0, distractors_per_year=4.0)


def collect(cfg):
    chunks = list(generate(design(cfg)))
    keys = ("data", "extreme", "ring", "driver", "distractor")
    return {
        k: np.concatenate([getattr(c, k) for c in chunks], axis=1 if k in ("data", "driver", "distractor") else 0)
        for k in keys
    }


def test_same_seed_same_cube_other_seed_other_cube():
    a = collect(benchmark_config(3, **SMALL))
    b = collect(benchmark_config(3, **SMALL))
    c = collect(benchmark_config(4, **SMALL))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["data"], c["data"])
    assert a["data"].dtype == np.float32


def test_events_do_not_depend_on_the_streaming_chunk():
    a = collect(benchmark_config(5, **SMALL, chunk_weeks=8))
    b = collect(benchmark_config(5, **SMALL, chunk_weeks=3))
    for key in ("extreme", "ring", "driver", "distractor"):
        np.testing.assert_array_equal(a[key], b[key])


def test_drivers_are_the_extremes_shifted_by_each_coupling_offset():
    cfg = benchmark_config(7, **SMALL)
    d = design(cfg)
    cube = collect(cfg)
    ext = cube["extreme"]
    assert ext.any()
    for v in range(len(cfg.variables)):
        expected = np.zeros_like(ext)
        if d.coupled[v]:
            offsets = d.offsets(v)
            assert len(offsets) >= cfg.driver_window[0]
            assert np.all(np.diff(offsets) == 1) and offsets.min() >= -cfg.lead_weeks and offsets.max() <= cfg.lag_weeks
            for o in offsets:  # driver at week t + o for an extreme at week t (events beyond the ends ignored)
                if o >= 0:
                    expected[o:] |= ext[: len(ext) - o]
                else:
                    expected[:o] |= ext[-o:]
            # events outside [0, weeks) are never drawn, so the brute force is complete
            np.testing.assert_array_equal(cube["driver"][v], expected)
        else:
            assert not cube["driver"][v].any()
    assert (~d.coupled).sum() == cfg.uncoupled
    # the ring: weeks within -lag .. +lead of an extreme, outside the core; it holds every driver
    near = np.zeros_like(ext)
    for shift in range(-cfg.lag_weeks, cfg.lead_weeks + 1):  # extreme at t + shift
        if shift >= 0:
            near[: len(ext) - shift] |= ext[shift:]
        else:
            near[-shift:] |= ext[:shift]
    np.testing.assert_array_equal(cube["ring"], near & ~ext)
    assert not (cube["driver"].any(axis=0) & ~(cube["ring"] | ext)).any()


def test_anomalies_shift_values_in_the_variables_sign_and_nowhere_else():
    with_anomalies = benchmark_config(11, **SMALL, kn=(0.0, 0.0))
    without = benchmark_config(11, **SMALL, kn=(0.0, 0.0), kb=(0.0, 0.0), ks=(0.0, 0.0))
    d = design(with_anomalies)
    a, b = collect(with_anomalies), collect(without)
    diff = a["data"] - b["data"]
    for v in range(len(with_anomalies.variables)):
        anomalous = a["driver"][v] | a["distractor"][v]
        assert anomalous.any()
        assert np.all(np.sign(diff[v][anomalous]) == d.sign[v])
        assert np.all(diff[v][~anomalous] == 0)


def test_written_store_layout(tmp_path):
    cfg = benchmark_config(1, **SMALL)
    write_benchmark(cfg, tmp_path / "b.zarr", attrs={"provenance": {"rule": "test"}})
    ds = xr.open_zarr(tmp_path / "b.zarr", consolidated=False)
    assert ds["data"].dims == ("variable", "time", "y", "x") and ds["data"].dtype == np.float32
    assert ds["driver"].dtype == bool and ds["extreme"].dims == ("time", "y", "x")
    assert list(ds["variable"].values) == list(cfg.variables)
    split = ds["split"].values
    assert split[0] == 0 and split[-1] == 2 and np.all(np.diff(split) >= 0)
    assert ds.attrs["design"]["coupled"] == ds["coupled"].values.tolist()
    assert ds["week"].values.min() == 1 and ds["week"].values.max() == 52


@pytest.mark.parametrize(
    "bad",
    [
        dict(uncoupled=6),
        dict(train_fraction=0.9, val_fraction=0.2),
        dict(shapes=("blob",)),
        dict(driver_window=(3, 20)),
    ],
)
def test_bad_settings_name_the_key(bad):
    with pytest.raises(ConfigError, match="ide.benchmark"):
        benchmark_config(0, **bad)
