"""Tiny DERE config for the tests (the schema defaults are the demo config; these are smaller still)."""

TINY = {
    "dataset": {"pure_threshold": 0.6, "min_pure_cells": 2, "cell_val_fraction": 0.2, "cell_test_fraction": 0.2,
                "site_val_fraction": 0.2, "site_test_fraction": 0.3},
    "backbone": {"d_model": 16, "n_heads": 2, "e_layers": 2, "d_layers": 1, "d_ff": 32, "dropout": 0.05, "attention": "full", "factor": 3},
    "pft_model": {"d_model": 16, "n_heads": 2, "e_layers": 1, "d_layers": 1, "d_ff": 32, "dropout": 0.05, "age_embedding": 4},
    "train": {"batch_size": 8, "lr": 3e-3, "lr_decay": 0.9, "patience": 3, "grad_clip": 1.0, "checkpoint_every": 20,
              "max_steps_per_epoch": 0, "physics_weight": 0.1, "device": "cpu"},
    "epochs": {"step1_pure": 2, "step1_mix": 2, "step2": 2, "step3a": 2, "step3b": 2, "step4": 3, "step6": 3,
               "baseline": 3, "kgml_pretrain": 2, "kgml_finetune": 3},
    "step6": {"observed_weight": 10.0, "weight_floor": 1e-3, "weight_reg": 0.1, "weight_hidden": 8},
    "csdi": {"layers": 2, "channels": 16, "heads": 2, "diffusion_embedding": 32, "time_embedding": 16, "feature_embedding": 8,
             "num_steps": 20, "beta_start": 1e-4, "beta_end": 0.5, "n_samples": 8, "epochs": 3, "repeats": 1, "drivers": [], "batch_size": 8, "lr": 1e-3,
             "well_observed_months": 9, "hide_per_year": 3, "sampler": "ddim", "ddim_steps": 5, "point": "median"},
}
