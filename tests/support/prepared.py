"""Comparing prepared stores."""

from pathlib import Path

import numpy as np
import xarray as xr


def assert_same_stores(a_dir: Path, b_dir: Path, names: list[str]) -> None:
    """The zarr stores ``names`` of both folders hold the same variables, values bit for bit (NaN where NaN),
    dtypes and attributes, except the ``provenance`` attribute (which must be there)."""
    for name in names:
        a = xr.open_zarr(a_dir / name).load()
        b = xr.open_zarr(b_dir / name).load()
        a.attrs.pop("provenance")
        b.attrs.pop("provenance")
        assert a.attrs == b.attrs, name
        assert set(a.variables) == set(b.variables), name
        for var in a.variables:
            assert a[var].dtype == b[var].dtype, (name, var)
            same = np.array_equal(a[var].values, b[var].values, equal_nan=a[var].dtype.kind == "f")
            assert same, (name, var)
            assert a[var].attrs == b[var].attrs, (name, var)
