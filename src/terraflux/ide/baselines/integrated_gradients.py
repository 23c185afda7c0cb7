"""Integrated gradients on the per-variable features of a plain extremes classifier (captum's layer
attribution; :mod:`terraflux.ide.baselines.attribution`)."""

from __future__ import annotations

from terraflux.ide.baselines.attribution import AttributionBaseline


class IntegratedGradients(AttributionBaseline):
    label = "integrated gradients"
    on_input = False
