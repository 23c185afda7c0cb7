"""The bottom-up process model (per cell, PFT group and forest-age class) and external process-model files."""
