"""The IDE paper's benchmark at its size, trained and tested within a time budget on one GPU: test driver F1 and
IoU of each backbone beside the paper's Table 1.

The benchmark is the project's synthetic IDE benchmark at the size of config/europe.yaml's ``ide.benchmark``
(200 x 200 pixels x 2392 weeks, the paper's: Shams Eddin & Gall, NeurIPS 2024; train / val / test by the
schema's fractions), written once into ``--work``. Each backbone trains through ``terraflux.ide.stages.train``
with the schema's ``ide.train`` and ``ide.model`` settings; the number of epochs is what fits ``--minutes``
after timing a few steps. The test split is then scored as rule ``ide_test`` scores it (majority vote of the
windows' driver masks, the benchmark threshold of ``ide.thresholds``). Prints one JSON object per line: the
benchmark's size and the time to write it, then per backbone the steps trained, seconds per step, and the test
metrics with the paper's F1.

    python bench/ide_paper.py [--backbones cnn3d,swin3d,mamba] [--minutes 2] [--work /tmp/ide_paper]
        [--height 200 --width 200 --weeks 2392]   # smaller sizes for a smoke run on a CPU
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import replace
from pathlib import Path

import terraflux  # noqa: F401  (native libraries in a safe order)
from terraflux.config import validate
from terraflux.ide.benchmark import BenchmarkConfig, write_benchmark
from terraflux.ide.dataset import benchmark_source, truth_drivers, write_dataset
from terraflux.ide.stages import TrainSettings, evaluate, load_model, predict, train
from terraflux.ide.table import PAPER_TEST_DRIVER_F1
from terraflux.ide.windows import WindowData
from terraflux.train import select_device

import yaml

REPO = Path(__file__).resolve().parents[1]


def settings() -> dict:
    """The schema's ``ide`` section with europe.yaml's benchmark size (the paper's)."""
    paper = yaml.safe_load((REPO / "config" / "europe.yaml").read_text())["ide"]["benchmark"]
    return validate({"ide": {"benchmark": paper}})["ide"]


def emit(**record) -> None:
    print(json.dumps(record), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbones", default="cnn3d,swin3d,mamba")
    ap.add_argument("--minutes", type=float, default=2.0, help="training time per backbone")
    ap.add_argument("--work", type=Path, default=Path("/tmp/ide_paper"))
    ap.add_argument("--height", type=int)
    ap.add_argument("--width", type=int)
    ap.add_argument("--weeks", type=int)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    ide = settings()
    sizes = {k: getattr(args, k) for k in ("height", "width", "weeks") if getattr(args, k)}
    bench_cfg = BenchmarkConfig.from_dict({**ide["benchmark"], **sizes}, seed=args.seed)
    args.work.mkdir(parents=True, exist_ok=True)
    store, dataset = args.work / "benchmark.zarr", args.work / "dataset.zarr"
    started = time.perf_counter()
    if not dataset.exists():
        write_benchmark(bench_cfg, store)
        write_dataset(benchmark_source(store), dataset, ide["clip"], {})
    emit(
        benchmark=f"{len(bench_cfg.variables)} x {bench_cfg.weeks} x {bench_cfg.height} x {bench_cfg.width}",
        seconds_to_write=time.perf_counter() - started,
    )
    info = select_device(threads=2)
    truth, has_truth = truth_drivers(store, dataset)
    base = TrainSettings.from_dict(ide["train"], "benchmark")
    for backbone in args.backbones.split(","):
        kwargs = dict(
            backbone=backbone,
            codebook=ide["codebooks"][0],
            weeks=ide["weeks"],
            model_params=ide["model"],
            seed=args.seed,
            threads=2,
            fingerprint="ide-paper",
            tile=ide["test_tile"],
        )
        probe = replace(base, epochs=1, steps_per_epoch=4, warmup_epochs=0)
        timed = time.perf_counter()
        train(dataset, args.work / f"{backbone}_probe.pt", settings=probe, **kwargs)
        per_step = (time.perf_counter() - timed) / probe.steps_per_epoch
        epochs = max(1, math.floor(args.minutes * 60 / (per_step * base.steps_per_epoch)))
        chosen = replace(base, epochs=epochs, warmup_epochs=min(base.warmup_epochs, epochs - 1))
        timed = time.perf_counter()
        summary = train(dataset, args.work / f"{backbone}.pt", settings=chosen, **kwargs)
        trained = time.perf_counter() - timed
        model, _ = load_model(args.work / f"{backbone}.pt", info.device)
        data = WindowData(dataset, ide["weeks"], memory_gb=chosen.memory_gb)
        timed = time.perf_counter()
        pred = predict(model, data, "test", tile=ide["test_tile"], device=info)
        metrics = evaluate(pred, data, "test", ide["thresholds"]["benchmark"], truth, has_truth)
        drivers = metrics["drivers"]["pooled"]
        emit(
            backbone=backbone,
            device=info.name,
            steps=summary["fit"]["steps"],
            seconds_training=trained,
            seconds_per_step=trained / max(summary["fit"]["steps"], 1),
            seconds_testing=time.perf_counter() - timed,
            test_driver_f1=drivers["f1"],
            test_driver_iou=drivers["iou"],
            test_extremes_f1=metrics["extremes"]["f1"],
            paper_test_driver_f1=PAPER_TEST_DRIVER_F1.get(f"IDE {backbone}"),
        )


if __name__ == "__main__":
    main()
