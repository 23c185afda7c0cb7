"""IDE settings for the tests, built from the schema defaults (config ``ide``, the demo) with overrides, so
that no test retypes a default; and the IDE paper's reference model settings where the demo's differ."""

from dataclasses import asdict

from terraflux.config import validate
from terraflux.ide.benchmark import BenchmarkConfig
from terraflux.ide.model import ModelConfig
from terraflux.ide.stages import TrainSettings

IDE = validate({})["ide"]

# The reference model (Shams Eddin & Gall, NeurIPS 2024) where the demo's defaults differ: its sizes, 3 x 3 x 3
# encoders zero-padded at the window's edges, Swin windows across weeks, the LFQ commitment weight 3.0.
REFERENCE_MODEL = {
    "hidden": 16,
    "features": 16,
    "cnn_blocks": 2,
    "classifier_hidden": 16,
    "encoder_time_kernel": 3,
    "encoder_context": "padded",
    "swin_windows": [[2, 4, 4], [8, 1, 1]],
    "lfq_commitment_weight": 3.0,
}
SMALL_MODEL = {"hidden": 4, "features": 4, "classifier_hidden": 4, "cnn_blocks": 1}  # a few hundred weights


def benchmark_config(seed: int, **overrides) -> BenchmarkConfig:
    """``ide.benchmark`` defaults with ``overrides`` (lists or tuples)."""
    return BenchmarkConfig.from_dict({**IDE["benchmark"], **overrides}, seed=seed)


def model_params(**overrides) -> dict:
    """``ide.model`` defaults with ``overrides``: what ``stages.train`` takes as ``model_params``."""
    return {**IDE["model"], **overrides}


def model_config(
    variables: int, channels: int = 1, backbone: str = "cnn3d", codebook: str = IDE["codebooks"][0], **overrides
) -> ModelConfig:
    """A :class:`ModelConfig` of ``ide.model`` defaults with ``overrides``."""
    return ModelConfig.from_dict(
        model_params(**overrides), variables=variables, channels=channels, backbone=backbone, codebook=codebook
    )


def train_settings(dataset: str = "benchmark", **overrides) -> TrainSettings:
    """``ide.train`` defaults of ``dataset`` with ``overrides``."""
    settings = TrainSettings.from_dict(IDE["train"], dataset)
    return TrainSettings(**{**asdict(settings), **overrides})
