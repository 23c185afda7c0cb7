"""The bottom-up process model: identities, units, responses, land cover, parameter table, external files."""

import terraflux  # noqa: F401
from terraflux.errors import ConfigError, DataError
from terraflux.simulate.process_model import (
    OUTPUTS,
    age_classes,
    convert_external,
    load_parameters,
    physics_residuals,
    run_process_model,
)

import numpy as np
import pytest
import xarray as xr

from support.dere_world import make_drivers, make_pft


@pytest.fixture(scope="module")
def simulated():
    drivers = make_drivers(4, 5, (2016, 2017))
    pft = make_pft(4, 5, (2016, 2017))
    return drivers, run_process_model(drivers, pft["fraction"], age_classes([0, 20, 60, 150]), load_parameters())


def test_outputs_layout_and_identities(simulated):
    drivers, out = simulated
    assert set(OUTPUTS) <= set(out.data_vars) and len(OUTPUTS) == 10
    assert out["GPP"].dims == ("pft_group", "age_class", "time", "latitude", "longitude")
    assert out["GPP"].shape == (3, 3, 24, 4, 5)
    assert out["GPP"].attrs["units"] == "gC m-2 d-1"
    assert max(physics_residuals(out).values()) < 1e-5
    land = out["land_mask"].values
    assert np.isnan(out["GPP"].values[..., ~land]).all() and np.isfinite(out["GPP"].values[..., land]).all()
    assert float(out["GPP"].min()) >= 0 and float(out["Rh"].min()) > 0
    # realistic magnitudes: monthly GPP up to ~15 gC m-2 d-1
    assert 1 < float(out["GPP"].max()) < 20
    assert out.attrs["parameters_version"] == load_parameters().version


def test_fluxes_respond_to_drivers(simulated):
    drivers, out = simulated
    summer, winter = out["GPP"].sel(time="2016-07").mean(), out["GPP"].sel(time="2016-01").mean()
    assert float(summer) > 3 * float(winter)
    warm = drivers.copy()
    warm["stl1"] = drivers["stl1"] + 10
    pft = make_pft(4, 5, (2016, 2017))
    hot = run_process_model(warm, pft["fraction"], age_classes([0, 20, 60, 150]), load_parameters())
    ratio = float((hot["Rh"] / out["Rh"]).median())
    assert ratio == pytest.approx(2.0, rel=1e-3)  # Q10 = 2 over 10 degC
    # older stands respire more of their GPP
    assert float((out["Ra"] / out["GPP"]).sel(pft_group="BL").isel(age_class=-1).mean()) > float(
        (out["Ra"] / out["GPP"]).sel(pft_group="BL").isel(age_class=0).mean()
    )


def test_land_cover_per_age_and_age_weights(simulated):
    _, out = simulated
    land = out["land_mask"].values
    frac = out["pft_fraction"].values[..., land]
    np.testing.assert_allclose(frac.sum(2), 1.0, atol=1e-5)
    np.testing.assert_allclose(out["age_weight"].values[:, land].sum(0), 1.0, atol=1e-5)
    trees = out["pft_fraction"].sel(pft_group=["BL", "NL"]).sum("pft_group").where(out["land_mask"])
    assert float(trees.isel(age_class=-1).mean()) > float(trees.isel(age_class=0).mean())


def test_bad_inputs_are_clear_errors(tmp_path):
    drivers = make_drivers(3, 3, (2016,))
    pft = make_pft(3, 3, (2016,))
    with pytest.raises(DataError, match="swvl1"):
        run_process_model(drivers.drop_vars("swvl1"), pft["fraction"], age_classes([0, 50]), load_parameters())
    with pytest.raises(DataError, match="years"):
        run_process_model(make_drivers(3, 3, (2016, 2017)), pft["fraction"], age_classes([0, 50]), load_parameters())
    with pytest.raises(ConfigError, match="age_class_edges"):
        age_classes([10, 5])
    bad = tmp_path / "p.yaml"
    bad.write_text("version: '0'\ngroups: [BL, NL, GS]\nparameters:\n  q10: {BL: 2, NL: 2}\n")
    with pytest.raises(DataError, match="q10"):
        load_parameters(bad)


def test_every_parameter_has_a_source():
    params = load_parameters()
    assert params.version and all(len(s) > 10 for s in params.sources.values())


def test_convert_external_checks_layout(simulated):
    _, out = simulated
    ages = age_classes([0, 20, 60, 150])
    converted = convert_external(out.drop_vars("land_mask"), ages)
    xr.testing.assert_equal(converted["GPP"], out["GPP"])
    with pytest.raises(DataError, match="Rh"):
        convert_external(out.drop_vars("Rh"), ages)
    with pytest.raises(DataError, match="age classes"):
        convert_external(out, age_classes([0, 150]))
