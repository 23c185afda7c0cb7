"""The tiny demo of the cluster and rerun tests (tests/test_slurm*.py, tests/test_reruns.py):
tests/configs/tiny.yaml, the demo's stages at toy sizes, so that a whole chain with a GPU (training) stage runs
in well under a minute on 2 CPU cores.

Stages covered so far: IDE on its synthetic benchmark (ide_benchmark -> ide_dataset -> ide_train [GPU]
-> ide_test [GPU]) and the run manifest (local rule). Extend TARGETS as more stages land.
"""

from pathlib import Path

from support.configs import configfile_args, load_config

RUN = load_config("tiny")["run"]["name"]
IDE = f"results/{RUN}/ide/benchmark_cnn3d_lfq_seed0"
TARGETS = [f"{IDE}/metrics.json", f"results/{RUN}/manifest.json"]
DERE_TARGETS = [f"results/{RUN}/dere/summary.json"] + [
    f"results/{RUN}/dere/{m}/predictions.zarr" for m in ("baseline", "kgml", "step4", "step6")
]
GPU_RULES = {"ide_train", "ide_test"}
CPU_RULES = {"ide_benchmark", "ide_dataset"}
LOCAL_RULES = {"evaluate_run_manifest"}


def config_args(folder: Path, extra: str = "") -> list[str]:
    """``--configfile`` arguments: the tiny config and, merged on top by snakemake, ``extra`` YAML
    (written into ``folder``)."""
    return configfile_args("tiny", folder, extra)
