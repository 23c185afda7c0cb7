"""Benchmark on one GPU: each training stage's step time in fp32 and under bf16 autocast (the ratio), peak GPU
memory and samples/s at the reference and paper shapes, the share of IDE step time spent waiting for data, and
CSDI sampling on the device.

Prints one JSON object per line (``section``, ``case`` and the numbers). Sections:

- ``dere``: the cases of bench_dere.py (the six comparison backbones, DERE's steps 1 pure and mix, the PFT model)
  at the reference shape (L 336 months, d_model 512, 8 heads, d_ff 2048, 136 drivers, batch 8); where the
  reference implementation timed that step, the ratio of its seconds per iteration to ours.
- ``ide``: bench_ide.py's optimiser step at the paper frame (6 variables x 8 weeks x 200 x 200, batch 1) for each
  backbone (cnn3d, swin3d, mamba) with the lfq codebook.
- ``ide_data``: the demo IDE model trained on the demo benchmark at the demo crop, batches from the workflow's
  sampler (``training_batches``): the share of each step spent producing the batch and copying it to the
  device (target below 10 %).
- ``csdi``: bench_csdi.py on the device (ancestral sampler with 50 steps against DDIM with 10).

bf16 speed-up = fp32 seconds per step / bf16 seconds per step (target at least 2 at the DERE reference shape and
the IDE paper frame). On a CPU bf16 autocast is off (the stages run fp32 there), so only fp32 is measured.
Sized to finish in under 6 minutes on one H200; ``--quick`` takes the demo shapes and few steps, a smoke check
that runs on any machine (without a CUDA device it is always quick: bench_dere.py and bench_ide.py time the
reference shapes on a CPU).

    python bench/bench_gpu.py [--quick] [--steps 5] [--sections dere,ide,ide_data,csdi]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import terraflux  # noqa: E402, F401  (native libraries in a safe order)
from terraflux.train import select_device  # noqa: E402

import bench_dere  # noqa: E402
import bench_ide  # noqa: E402
import torch  # noqa: E402

SECTIONS = ("dere", "ide", "ide_data", "csdi")


def emit(section: str, case: str, **numbers) -> None:
    print(json.dumps({"section": section, "case": case, **numbers}), flush=True)


def precisions(device: torch.device) -> list[bool]:
    return [False, True] if device.type == "cuda" else [False]


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def speedup(times: dict[bool, float]) -> float | None:
    return times[False] / times[True] if True in times else None


def dere_section(shape: str, steps: int, device: torch.device) -> None:
    for case in bench_dere.CASES:
        times, peaks, rate = {}, {}, None
        for bf16 in precisions(device):
            reset_peak(device)
            r = bench_dere.run_case(case, shape, steps, bf16)
            times[bf16], peaks[bf16] = r["seconds_per_iteration"], r["peak_MiB"]
            rate = r["samples_per_s"] if not bf16 else rate
        reference = None
        if shape == "reference" and not case.startswith("backbone_"):
            reference = bench_dere.REFERENCE_SECONDS["pft" if case == "pft" else "backbone"]
        best = min(times.values())
        emit(
            "dere",
            case,
            shape=shape,
            fp32_s=times[False],
            bf16_s=times.get(True),
            bf16_speedup=speedup(times),
            fp32_samples_per_s=rate,
            peak_MiB_fp32=peaks[False],
            peak_MiB_bf16=peaks.get(True),
            reference_impl_s=reference,
            vs_reference_impl=reference / best if reference else None,
        )


def ide_section(size: str, steps: int, device: torch.device) -> None:
    batch, side = bench_ide.SIZES[size]
    for backbone in bench_ide.BACKBONES:
        times, peaks = {}, {}
        for bf16 in precisions(device):
            reset_peak(device)
            seconds, _, params = bench_ide.step_time(backbone, "lfq", batch, side, steps, device, "week", bf16)
            times[bf16], peaks[bf16] = seconds, bench_ide.peak_mb(device)
        emit(
            "ide",
            backbone,
            frame=f"6 x 8 x {side} x {side}",
            batch=batch,
            parameters=params,
            fp32_s=times[False],
            bf16_s=times.get(True),
            bf16_speedup=speedup(times),
            windows_per_s=batch / min(times.values()),
            peak_MiB_fp32=peaks[False],
            peak_MiB_bf16=peaks.get(True),
        )


def ide_data_section(steps: int, device: torch.device) -> None:
    from terraflux.ide.benchmark import BenchmarkConfig, write_benchmark
    from terraflux.ide.dataset import benchmark_source, write_dataset
    from terraflux.ide.losses import ide_loss
    from terraflux.ide.model import IDEModel, ModelConfig
    from terraflux.ide.windows import WindowData, WindowSampling, training_batches
    from terraflux.train import autocast

    ide, info = bench_ide.IDE, select_device(device.type)
    train = ide["train"]
    with tempfile.TemporaryDirectory() as tmp:
        store, dataset = Path(tmp) / "b.zarr", Path(tmp) / "d.zarr"
        write_benchmark(BenchmarkConfig.from_dict(ide["benchmark"], seed=0), store)
        write_dataset(benchmark_source(store), dataset, ide["clip"], {})
        data = WindowData(dataset, ide["weeks"], train["memory_gb"])
        nv, nc, _, h, w = data.shape
        crop = min(train["crop"], h, w)
        cfg = ModelConfig.from_dict(ide["model"], variables=nv, channels=nc, backbone="cnn3d", codebook="lfq")
        model = IDEModel(cfg, (ide["weeks"], crop, crop)).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=train["lr"])
        sampling = WindowSampling(
            train["batch_size"], steps + 1, crop, train["positive_fraction"], context=model.context
        )
        batches = iter(training_batches(data, sampling, seed=0, epoch=0))
        waiting = total = 0.0
        for i in range(steps + 1):
            start = time.perf_counter()
            batch = {k: v.to(device, non_blocking=True) for k, v in next(batches).items()}
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            loaded = time.perf_counter()
            with autocast(info):
                loss, _ = ide_loss(model(batch["x"], batch["valid"]), batch, train["driver_weight"]["benchmark"])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i:  # the first step warms up allocators and kernels
                waiting += loaded - start
                total += time.perf_counter() - start
    emit(
        "ide_data",
        "cnn3d_demo_crop",
        batch=train["batch_size"],
        crop=crop,
        seconds_per_step=total / steps,
        data_wait_share=waiting / total,
        target_share=0.10,
    )


def csdi_section(quick: bool, device: torch.device) -> None:
    cmd = [sys.executable, str(BENCH / "bench_csdi.py"), "--device", device.type]
    cmd += ["--train-steps", "10"] if quick else ["--reference"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = (done.stdout + done.stderr).strip().splitlines()
    emit("csdi", "ancestral50_vs_ddim10", returncode=done.returncode, output=lines[-6:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="demo shapes and few steps: a smoke check")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--sections", default=",".join(SECTIONS))
    args = ap.parse_args()
    sections = args.sections.split(",")
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    info = select_device(threads=2)
    device = info.device
    if device.type != "cuda" and not args.quick:  # the reference shapes are bench_dere's and bench_ide's on a CPU
        print("no CUDA device: the demo shapes only (--quick)", file=sys.stderr)
        args.quick = True
    emit("device", info.name, **info.as_dict(), torch=torch.__version__, quick=args.quick)
    steps = 1 if args.quick else args.steps
    started = time.perf_counter()
    if "dere" in sections:
        dere_section("demo" if args.quick else "reference", steps, device)
    if "ide" in sections:
        ide_section("demo" if args.quick else "paper", steps, device)
    if "ide_data" in sections:
        ide_data_section(2 if args.quick else 20, device)
    if "csdi" in sections:
        csdi_section(args.quick, device)
    emit("total", "wall", seconds=time.perf_counter() - started)


if __name__ == "__main__":
    main()
