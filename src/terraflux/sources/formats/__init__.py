"""Low-level helpers shared by the sources' readers and writers.

- ``sniff``: a raw file's format from its first bytes (zip, NetCDF4/HDF5, NetCDF3, GRIB);
- ``netcdf``: opening NetCDF files (plain or inside a zip) with an explicit engine and a small chunk cache;
- ``grib``: walking a GRIB file's messages (completeness: padding after the last message accepted, cut messages
  refused) and cfgrib opening with a temporary message index;
- ``zips``: writing zips as the services deliver them (stored members, fixed timestamps: reproducible);
- ``cds``: request fields shared by the Climate Data Store datasets (area, days, times).
"""
