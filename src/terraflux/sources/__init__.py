"""Data sources: one package per source, the single home of every fact about its raw files.

Each of ``era5_land``, ``cerra``, ``land_cover`` (LCCS maps and the PFT product), ``insitu`` (CarbonSense,
FLUXNET2015) and ``vhp`` holds in its ``__init__``: the variable table with units, accumulation rules, the
raw-path and file-name patterns, version / satellite / year rules and the request (CDS request dict or URL);
in ``read``: the reader of the raw files (used by the prepare layer only); in ``write``: the writer of the
real format from arrays (used by the synthetic world, the test fakes and the benchmarks).

- ``terraflux.sources.formats``: low-level format helpers (sniffing, NetCDF and GRIB opening, zips, CDS
  request fields);
- ``terraflux.sources.download``: transport only (CDS client, HTTPS, delivery and sidecars, errors, the
  CarbonSense archive).

Raw paths are relative to the run's raw folder (``resources/{run}/raw/``, ``docs/data-layout.md``).
"""
