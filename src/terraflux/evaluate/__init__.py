"""Evaluation: spatial and temporal structure, kriging label baseline, figures (the metrics themselves, shared
with the model stages: :mod:`terraflux.metrics`).

Modules (one job each):

- :mod:`~terraflux.evaluate.inputs`: reading the model stages' outputs into pairs to compare.
- :mod:`~terraflux.evaluate.semivariogram`: exact FFT semivariogram of gridded fields with gaps
  (Marcotte 1996), latitude-aware distances on lat/lon grids, model fitting (GSTools), semivariogram
  distance between prediction and reference under one mask.
- :mod:`~terraflux.evaluate.temporal`: ACF of region-mean series, lag-k RMSE / R2 curves.
- :mod:`~terraflux.evaluate.kriging`: kriging pseudo-labels between sites (GSTools), conditional fields.
- :mod:`~terraflux.evaluate.ide`: the IDE models' and baselines' scores as long rows.
- :mod:`~terraflux.evaluate.ide_maps`: maps of one IDE model at one test week.
- :mod:`~terraflux.evaluate.figures`: matplotlib figures with units, colour bars, land/sea mask.
"""
