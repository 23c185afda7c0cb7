"""terraflux: land-surface machine learning from raw data to evaluated models, as a Snakemake workflow.

The package is the tested library behind the workflow's thin scripts: data sources, the synthetic world,
preparation into zarr/parquet, the process model, the DERE and IDE models, training and evaluation.
"""

# pyproj must be loaded before eccodes: the eccodeslib wheel bundles its own libproj, and loading it
# first makes pyproj bind to it, which crashes the interpreter at exit (measured: exit code 139).
# Importing pyproj here, before anything can import eccodes/cfgrib, keeps every process clean.
import pyproj  # noqa: F401  (import for its side effect, see above)

__version__ = "0.1.0"
