"""Spatial statistics methods as workflow stages: downscaling with a transfer encoder and a conditional
diffusion model, contrastive pretraining of that encoder, basis-function interpolation (docs/spatial.md)."""
