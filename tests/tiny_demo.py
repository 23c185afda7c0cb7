"""The tiny configuration of the cluster, rerun and reproducibility tests (tests/test_slurm*.py,
tests/test_reruns*.py, tests/test_reproducible*.py): the demo's stages at toy sizes, so that a whole
chain with a GPU (training) stage runs in well under a minute on 2 CPU cores.

Stages covered so far: IDE on its synthetic benchmark (ide_benchmark -> ide_dataset -> ide_train [GPU]
-> ide_test [GPU]) and the run manifest (local rule). Extend TARGETS as more stages land.
"""

from pathlib import Path

RUN = "tiny"

CONFIG = """
run: {name: tiny, seed: 20240501}
ide:
  datasets: [benchmark]
  backbones: [cnn3d]
  weeks: 4
  benchmark: {height: 16, width: 16, weeks: 104, chunk_weeks: 8, event_radius: [2, 4]}
  model: {hidden: 4, features: 4, cnn_blocks: 1, classifier_hidden: 4}
  train: {crop: 8, batch_size: 2, epochs: 2, steps_per_epoch: 4, val_windows: 2, checkpoint_every: 2, warmup_epochs: 0}
compute:
  synthesize: {threads: 1, mem_mb: 1000, runtime: 10}
  prepare: {threads: 1, mem_mb: 1000, runtime: 10}
  simulate: {threads: 1, mem_mb: 1000, runtime: 10}
  train: {threads: 1, mem_mb: 2000, runtime: 10, gpus: 1}
  cpu_model: {threads: 1, mem_mb: 1000, runtime: 10}
  evaluate: {threads: 1, mem_mb: 1000, runtime: 10}
"""

IDE = f"results/{RUN}/ide/benchmark_cnn3d"
TARGETS = [f"{IDE}/metrics.json", f"results/{RUN}/manifest.json"]
DERE_TARGETS = [f"results/{RUN}/dere/summary.json"] + [f"results/{RUN}/dere/{m}/predictions.zarr" for m in ("baseline", "kgml", "step4", "step6")]
GPU_RULES = {"ide_train", "ide_test"}
CPU_RULES = {"ide_benchmark", "ide_dataset"}
LOCAL_RULES = {"evaluate_run_manifest"}


def config_args(folder: Path, extra: str = "") -> list[str]:
    """``--configfile`` arguments: the tiny config and, merged on top by snakemake, ``extra`` YAML."""
    files = [folder / "tiny.yaml"]
    files[0].write_text(CONFIG)
    if extra:
        files.append(folder / "extra.yaml")
        files[1].write_text(extra)
    return ["--configfile", *map(str, files)]
