"""The offline synthetic world: one seeded generator, one coherent ground truth for every source.

A small latent *world* (:mod:`.world`) holds everything random: the land surface (elevation, sea,
plant-functional-type composition and forest age, slowly changing by year), low-rank spatially
correlated weather processes (daily series x smooth spatial modes), extreme events with their driver
anomalies and distractors, and the flux-tower sites. Every source is a deterministic function of it,
evaluated on that source's own grid and written in that source's real file format:

=================  =====================================================================
module             writes
=================  =====================================================================
``grids``          the grids: ERA5-Land 0.1 deg, ESA-CCI 1/360 deg, CERRA Lambert, VHP 0.036 deg
``land``           land surface: sea mask, elevation, PFT composition, forest age, 300 m map
``weather``        hourly weather at any points (ERA5-Land variables and CERRA's derived ones)
``extremes``       extreme events, driver / distractor anomalies, VHI; NOAA VHP files
``fluxes``         the hidden flux parameterisation (true GPP, RECO, NEE per PFT)
``era5_land``      ERA5-Land hourly NetCDF (new CDS layout) and daily-statistics zips
``cerra``          CERRA GRIB2 analysis and forecast files (eccodes)
``land_cover``     ESA-CCI / C3S LCCS land-cover zips
``towers``         sites in CarbonSense v1 and FLUXNET2015 FULLSET layouts
``truth``          the ground-truth stores read by evaluation only
=================  =====================================================================

Seeds: every random draw comes from ``stage_rng(seed, *names)`` (``run.seed`` plus stage names), so
the world and every file are reproducible bit for bit. Memory: files are written month by month (or
week by week); no full-period float64 cube is ever built.
"""
