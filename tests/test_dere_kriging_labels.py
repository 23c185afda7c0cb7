"""The kriging label set of step 6 comes from training sites only: no validation or test observation reaches any
training label."""

import terraflux  # noqa: F401
from terraflux.evaluate.kriging import LABEL_COLUMNS, training_label_set

import numpy as np
import pandas as pd
import pytest
from test_evaluate import _flux_world


def test_no_val_or_test_observation_reaches_a_training_label():
    sites, world = _flux_world(n_sites=16, n_months=6)
    train = list(sites["site_id"][:10])
    held_out = set(sites["site_id"]) - set(train)
    gaps = world.sample(frac=0.3, random_state=2).index  # months without an observation, at every kind of site
    observed = world.drop(gaps)[["site_id", "time"]].assign(value=world.drop(gaps)["truth"])
    prior = world[["site_id", "time"]].assign(value=world["prior"])
    labels = training_label_set(sites, observed, prior, train, seed=1)
    assert list(labels.columns) == LABEL_COLUMNS
    assert set(labels["site_id"]) <= set(train)  # labels only at training sites
    n_train_months = int(world["site_id"].isin(train).sum())
    assert len(labels) == n_train_months  # every training site-month: its observation or a kriged label
    assert labels["imputed"].sum() == int(world.loc[gaps, "site_id"].isin(train).sum()) > 0
    kept = labels[~labels["imputed"]].merge(observed, on=["site_id", "time"], suffixes=("", "_obs"))
    np.testing.assert_array_equal(kept["value"], kept["value_obs"])
    # Changing every held-out site's observations (by 1000 gC m-2 d-1) changes no label at all, while the same
    # change of 2 (the residuals' scale) at one training site moves the kriged labels: held-out observations
    # never reach a label.
    shifted = observed.assign(
        value=np.where(observed["site_id"].isin(held_out), observed["value"] + 1000, observed["value"])
    )
    pd.testing.assert_frame_equal(training_label_set(sites, shifted, prior, train, seed=1), labels)
    moved = observed.assign(value=np.where(observed["site_id"] == train[0], observed["value"] + 2, observed["value"]))
    other = training_label_set(sites, moved, prior, train, seed=1)
    imputed = labels["imputed"] & (labels["site_id"] != train[0])
    assert not np.allclose(other.loc[imputed, "value"], labels.loc[imputed, "value"])
    with pytest.raises(ValueError, match="no training site"):
        training_label_set(sites, observed, prior, [], seed=1)
