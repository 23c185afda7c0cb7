"""Evaluation: skill metrics, spatial and temporal structure, kriging label baseline, figures.

Modules (one job each):

- :mod:`~terraflux.evaluate.metrics`: point metrics (RMSE, MAE, R2, NSE, bias), anomaly skill, CRPS,
  grouped skill tables.
- :mod:`~terraflux.evaluate.semivariogram`: exact FFT semivariogram of gridded fields with gaps
  (Marcotte 1996), latitude-aware distances on lat/lon grids, model fitting (GSTools), semivariogram
  distance between prediction and reference under one mask.
- :mod:`~terraflux.evaluate.temporal`: ACF of region-mean series, lag-k RMSE / R2 curves.
- :mod:`~terraflux.evaluate.kriging`: kriging pseudo-labels between sites (GSTools), conditional fields.
- :mod:`~terraflux.evaluate.figures`: matplotlib figures with units, colour bars, land/sea mask.
"""
