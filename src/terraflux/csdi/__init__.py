"""CSDI imputation of in-situ flux gaps (DERE step 5): model, batched samplers (ancestral and DDIM), scores."""
