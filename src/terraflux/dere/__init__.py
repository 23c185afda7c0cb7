"""DERE carbon-flux method: dataset store, Informer backbone, models and physics loss, stages, metrics."""
