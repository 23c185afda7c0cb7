"""Prepare: raw files into analysis-ready zarr stores and parquet tables (the only layer reading raw formats).

Modules: :mod:`.grid` (crop, model grid, block means), :mod:`.weeks` (the weekly calendar), :mod:`.moments`
(streaming mean/std), :mod:`.stores` (pre-created zarr stores written region by region), and one module per
stage: :mod:`.era5_land`, :mod:`.cerra`, :mod:`.pft`, :mod:`.insitu`, :mod:`.vhp`.
"""
