"""IDE: identifying the spatio-temporal drivers of extreme events (Shams Eddin and Gall, NeurIPS 2024).

Modules, one job each:

- ``benchmark``: seeded, streaming synthetic benchmark with ground-truth drivers.
- ``dataset``: the normalised dataset store (weekly climatology of the training weeks, normalisation,
  targets and masks) and the ground-truth drivers aligned to it.
- ``windows``: windows of T weeks read from the dataset (in memory or through a chunk cache), training plans
  and batches.
- ``model``: per-variable encoders (cnn3d, swin3d, mamba), binary LFQ quantiser, classifier.
- ``losses``: per-batch class weights, classification, driver and quantiser losses.
- ``schedule``: cosine learning-rate schedule with linear warm-up (stepped per optimiser step).
- ``drivers``: majority vote of window masks into [variable, week, y, x] driver maps.
- ``metrics``: precision, recall, F1, IoU, overall accuracy of binary masks.
- ``baselines``: naive anomaly threshold, isolation forest, DeepMIL.
- ``table``: the benchmark table of models and baselines.
- ``outputs``: the test predictions store and figure.
- ``stages``: the functions the workflow scripts call (train, test, benchmark table).
"""
