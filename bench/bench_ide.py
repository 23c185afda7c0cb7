"""Benchmark: IDE training-step time and peak memory of every backbone x codebook, and data-loading throughput.

Sizes: 6 variables x 8 weeks at 200 x 200 (the paper's grid, one window per step) and at the demo's
training crop (batch 4 x 32 x 32). For each backbone (cnn3d, swin3d, mamba) and codebook (lfq, fsq, vq,
latent_quantize, random_vq): seconds per optimiser step (forward, loss, backward, Adam; wall clock, and the
process's CPU seconds, which a loaded machine inflates less), windows per second,
parameters, and peak memory: CUDA's peak allocation, or on CPU the peak RSS of a fresh process that measures
that one combination. Data loading: windows per second of ``training_batches`` from an in-memory dataset of
the demo size, and its ratio to the fastest demo step rate in windows per second (target >= 2).

``--encoder``: ``week`` (the demo's ``ide.model``: time kernel 1 and one-week swin/mamba windows, each week
encoded alone), ``past`` (time kernel 2, the encoders read the weeks before the window, so the input holds
8 + context weeks) or ``padded`` (the reference: zero-padded 3 x 3 x 3, windows 2 x 4 x 4 then 8 x 1 x 1).

    python bench/bench_ide.py [--steps 3] [--sizes demo,paper] [--backbones cnn3d,swin3d,mamba]
        [--codebooks lfq,fsq,vq,latent_quantize,random_vq] [--threads 2] [--encoder week]
"""

import argparse
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path

import terraflux  # noqa: F401  (native libraries in a safe order)
from terraflux.config import validate
from terraflux.ide.benchmark import BenchmarkConfig, write_benchmark
from terraflux.ide.codebooks import CODEBOOKS
from terraflux.ide.dataset import benchmark_source, write_dataset
from terraflux.ide.losses import ide_loss
from terraflux.ide.model import BACKBONES, IDEModel, ModelConfig, count_parameters
from terraflux.ide.windows import WindowData, WindowSampling, training_batches
from terraflux.train import select_device

import torch

IDE = validate({})["ide"]  # the demo's settings (schema defaults)

SIZES = {"demo": (4, 32), "paper": (1, 200)}  # (batch, pixels per side)
DATA_TARGET = 2.0


def peak_mb(device) -> float:
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**20
        torch.cuda.reset_peak_memory_stats(device)
        return peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


REFERENCE_SWIN = [[2, 4, 4], [8, 1, 1]]  # the reference's swin windows, across weeks
ENCODERS = {  # --encoder -> ide.model keys
    "week": {"encoder_context": "past", "encoder_time_kernel": 1, "swin_windows": [[1, 4, 4], [1, 8, 8]]},
    "past": {"encoder_context": "past", "encoder_time_kernel": 2, "swin_windows": REFERENCE_SWIN},
    "padded": {"encoder_context": "padded", "encoder_time_kernel": 3, "swin_windows": REFERENCE_SWIN},
}


def model_config(backbone: str, encoder: str, codebook: str = "lfq") -> ModelConfig:
    params = {**IDE["model"], **ENCODERS[encoder]}
    return ModelConfig.from_dict(params, variables=6, channels=1, backbone=backbone, codebook=codebook)


def step_time(
    backbone: str, codebook: str, batch: int, side: int, steps: int, device, encoder: str, bf16: bool = True
) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of this process, per optimiser step; parameters). ``bf16``: autocast on CUDA."""
    torch.manual_seed(0)
    model = IDEModel(model_config(backbone, encoder, codebook), (8, side, side)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 6, 1, 8 + model.context, side, side, device=device)
    target = torch.rand(batch, side, side, device=device) < 0.05
    b = {"x": x, "target": target, "valid": torch.ones_like(target), "normal": ~target}
    times, cpu_times = [], []
    for i in range(steps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start, cpu_start = time.perf_counter(), time.process_time()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16 and device.type == "cuda"):
            loss, _ = ide_loss(model(x, b["valid"]), b, IDE["train"]["driver_weight"]["benchmark"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i:  # the first step warms up allocators and kernels
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
    return sum(times) / len(times), sum(cpu_times) / len(cpu_times), count_parameters(model)


def loading_rate(batch: int, crop: int, steps: int, context: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        write_benchmark(BenchmarkConfig.from_dict(IDE["benchmark"], seed=0), Path(tmp) / "b.zarr")
        write_dataset(benchmark_source(Path(tmp) / "b.zarr"), Path(tmp) / "d.zarr", IDE["clip"], {})
        data = WindowData(Path(tmp) / "d.zarr", 8, IDE["train"]["memory_gb"])
        start = time.perf_counter()
        uniform = WindowSampling(batch, steps, crop, positive_fraction=0.0, context=context)
        for _ in training_batches(data, uniform, seed=0, epoch=0):
            pass
        return steps * batch / (time.perf_counter() - start)


def measure(backbone: str, codebook: str, size: str, steps: int, threads: int, encoder: str) -> tuple:
    """(wall and CPU seconds per step, parameters, peak memory MB) of one combination."""
    device = select_device(threads=threads).device
    batch, side = SIZES[size]
    return *step_time(backbone, codebook, batch, side, steps, device, encoder), peak_mb(device)


def measure_alone(*args) -> tuple:
    """:func:`measure` in a fresh process, so that the peak RSS is that combination's alone."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(measure, args)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--sizes", default="demo,paper")
    ap.add_argument("--backbones", default=",".join(BACKBONES))
    ap.add_argument("--codebooks", default=",".join(CODEBOOKS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--encoder", choices=list(ENCODERS), default="week")
    args = ap.parse_args()
    info = select_device(threads=args.threads)
    print(f"device: {info.as_dict()}")
    run = measure if info.device.type == "cuda" else measure_alone
    demo_rate = None
    for size in args.sizes.split(","):
        batch, side = SIZES[size]
        for backbone in args.backbones.split(","):
            for codebook in args.codebooks.split(","):
                seconds, cpu, params, peak = run(backbone, codebook, size, args.steps, args.threads, args.encoder)
                rate = batch / seconds
                if size == "demo":
                    demo_rate = max(demo_rate or 0, rate)
                print(
                    f"{backbone:7s} {codebook:15s} {args.encoder} {size:5s} 6 x 8 x {side} x {side} batch {batch}: "
                    f"{seconds:.3f} s/step ({cpu:.3f} CPU s), {rate:.2f} windows/s, {params} parameters, "
                    f"peak memory {peak:.0f} MB",
                    flush=True,
                )
    batch, side = SIZES["demo"]
    loaded = loading_rate(batch, side, 200, IDEModel(model_config("cnn3d", args.encoder), (8, side, side)).context)
    line = f"data loading (demo crops {side} x {side}, batch {batch}): {loaded:.0f} windows/s"
    if demo_rate:
        ratio = loaded / demo_rate
        verdict = "ok" if ratio >= DATA_TARGET else "BELOW"
        line += f", {ratio:.1f}x the fastest demo training rate (target >= {DATA_TARGET:.0f}x: {verdict})"
    print(line)


if __name__ == "__main__":
    main()
