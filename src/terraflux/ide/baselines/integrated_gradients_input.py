"""Integrated gradients on the inputs of a plain extremes classifier (the IDE paper's variant "I";
:mod:`terraflux.ide.baselines.attribution`)."""

from __future__ import annotations

from terraflux.ide.baselines.attribution import AttributionBaseline


class IntegratedGradientsInput(AttributionBaseline):
    label = "integrated gradients (I)"
    on_input = True
