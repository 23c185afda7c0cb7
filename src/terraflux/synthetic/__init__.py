"""The offline synthetic world: one seeded generator, one coherent ground truth for every source.

A small latent *world* (:mod:`.world`) holds everything random: the land surface (elevation, sea,
plant-functional-type composition and forest age, slowly changing by year), low-rank spatially
correlated weather processes (daily series x smooth spatial modes), extreme events with their driver
anomalies and distractors, and the flux-tower sites. Every source is a deterministic function of it,
evaluated on that source's own grid; the values are written in the source's real file format by the
source's writer (``terraflux.sources.<source>.write``):

=================  =====================================================================
module             computes
=================  =====================================================================
``grids``          the grids of the region: ERA5-Land, ESA-CCI 1/360 deg, CERRA window, VHP window
``land``           land surface: sea mask, elevation, PFT composition, forest age, 300 m map
``weather``        hourly weather at any points (ERA5-Land variables and CERRA's derived ones)
``extremes``       extreme events, driver / distractor anomalies
``fluxes``         the hidden flux parameterisation (true GPP, RECO, NEE per PFT)
``era5_land``      ERA5-Land hourly months and daily statistics
``cerra``          CERRA analysis and forecast months
``land_cover``     the yearly LCCS class maps
``towers``         sites, their hourly records, CarbonSense and FLUXNET2015 tables
``vhp``            weekly VHI, VCI, TCI
``truth``          the ground-truth stores read by evaluation only
=================  =====================================================================

Seeds: every random draw comes from ``stage_rng(seed, *names)`` (``run.seed`` plus stage names), so
the world and every file are reproducible bit for bit. Memory: files are written month by month (or
week by week); no full-period float64 cube is ever built.
"""
