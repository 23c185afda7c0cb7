"""Benchmark: DERE training throughput (samples/s, peak memory) per step at reference and demo shapes.

Reference shapes (the DERE reference implementation, Xu et al., KDD 2026, doi 10.1145/3770855.3818927):
L = 336 months, d_model 512, 8 heads, 2+1 layers, d_ff 2048, 136 drivers, batch 8; PFT model 8 x 18 (cell, age)
sequences of 28 years. Demo shapes: the schema defaults (d_model 32, L = 48, ~14 drivers, batch 16). Baseline:
the reference implementation's CPU times (docs/performance.md). Each case runs in its own process (clean peak
RSS). On CUDA it also runs bf16 autocast against fp32. Cases: ``backbone_<name>`` for each comparison backbone
(one training step of [batch, L, drivers] -> [batch, L, 10 outputs]; the FEDformer, TimeXer and SimpleTM
settings are the schema defaults), DERE's steps 1 (pure, mix) and the PFT model.

    python bench/bench_dere.py [--case CASE --shape SHAPE] [--cases step1_pure,backbone_informer,...] [--steps 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

REFERENCE_SECONDS = {"backbone": 7.0, "pft": 6.5}  # "backbone": the step-1 cases
SHAPES = {
    "reference": {
        "L": 336,
        "d_model": 512,
        "heads": 8,
        "d_ff": 2048,
        "features": 136,
        "batch": 8,
        "years": 28,
        "ages": 18,
    },
    "demo": {"L": 48, "d_model": 32, "heads": 4, "d_ff": 64, "features": 14, "batch": 16, "years": 4, "ages": 4},
}
BACKBONE_NAMES = ("transformer", "informer", "fedformer", "itransformer", "timexer", "simpletm")
CASES = tuple(f"backbone_{name}" for name in BACKBONE_NAMES) + ("step1_pure", "step1_mix", "pft")
# The comparison backbones' own settings at both shapes (the schema defaults).
SPECIFIC = {"moving_avg": 13, "modes": 8, "patch_len": 6, "wavelet": "db2", "wavelet_levels": 1}
SPECIFIC["geometric_weight"] = 0.5


def run_case(case: str, shape: str, steps: int, bf16: bool) -> dict:
    import terraflux  # noqa: F401
    from terraflux.dere.backbones import BackboneConfig, build_backbone
    from terraflux.dere.models import MixModel, PftModel, Scaler
    from terraflux.train import autocast, seed_everything, select_device

    import torch

    seed_everything(0)
    s = SHAPES[shape]
    info = select_device("auto", threads=2)
    dev = info.device
    sizes = (s["d_model"], s["heads"], 2, 1, s["d_ff"], 0.05)
    cfg = BackboneConfig("informer", *sizes, "full", None)  # DERE's own backbone
    n_var, n_groups = 10, 3
    x = torch.randn(s["batch"], s["L"], s["features"] + 1, device=dev)
    if case.startswith("backbone_"):
        name = case.removeprefix("backbone_")
        spec = BackboneConfig(name, *sizes, "prob" if name == "informer" else "full", 5, **SPECIFIC)
        model = build_backbone(spec, s["features"] + 1, n_var, s["L"])
        forward = lambda m: m(x)  # noqa: E731
        samples = s["batch"]
    elif case in ("step1_pure", "step1_mix"):
        scaler = Scaler(torch.zeros(n_var), torch.ones(n_var), [str(i) for i in range(n_var - 1)] + ["NEE"])
        model = MixModel(s["features"] + 1, n_var, n_groups, cfg, scaler, s["L"])
        frac = torch.rand(s["batch"], s["L"], n_groups, device=dev)
        if case == "step1_pure":  # one batch per PFT group and iteration
            forward = lambda m: sum(m.pure(x, [g]).mean() for g in range(n_groups))  # noqa: E731
            samples = s["batch"] * n_groups
        else:
            forward = lambda m: m(x, frac)  # noqa: E731
            samples = s["batch"]
    else:
        pcfg = BackboneConfig("informer", s["d_model"], s["heads"], 1, 1, s["d_ff"], 0.05, "full", None)
        model = PftModel(12 * s["features"], s["ages"], 32, n_groups, pcfg, s["years"])
        n = s["batch"] * s["ages"]
        xy = torch.randn(n, s["years"], 12 * s["features"], device=dev)
        ages = torch.arange(s["ages"], device=dev).repeat(s["batch"])
        tok = torch.rand(n, n_groups, device=dev)
        forward = lambda m: m(xy, ages, tok)  # noqa: E731
        samples = n
    model.to(dev).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    ctx = autocast(info) if bf16 else __import__("contextlib").nullcontext()
    times = []
    for i in range(steps + 1):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with ctx:
            loss = forward(model).float().pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if i:  # first iteration is warm-up
            times.append(time.perf_counter() - t0)
    sec = sum(times) / len(times)
    peak = (
        torch.cuda.max_memory_allocated() / 2**20
        if dev.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    return {
        "case": case,
        "shape": shape,
        "device": info.name,
        "bf16": bf16,
        "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
        "seconds_per_iteration": sec,
        "samples_per_s": samples / sec,
        "peak_MiB": peak,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case")
    ap.add_argument("--shape")
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--shapes", default="demo,reference")
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.shape, args.steps, args.bf16)))
        return
    import torch

    precisions = [False, True] if torch.cuda.is_available() else [False]
    print(
        f"{'case':<21} {'shape':<9} {'bf16':<5} {'params M':>8} {'s/iter':>8} {'samples/s':>10} {'peak MiB':>9} "
        f"{'vs reference impl':>18}"
    )
    for shape in args.shapes.split(","):
        for case in args.cases.split(","):
            for bf16 in precisions:
                cmd = [sys.executable, __file__, "--case", case, "--shape", shape, "--steps", str(args.steps)] + (
                    ["--bf16"] if bf16 else []
                )
                done = subprocess.run(cmd, capture_output=True, text=True)
                if done.returncode:
                    print(f"{case} {shape}: failed\n{done.stderr[-2000:]}")
                    continue
                r = json.loads(done.stdout.strip().splitlines()[-1])
                ref = REFERENCE_SECONDS["pft" if case == "pft" else "backbone"] if shape == "reference" else None
                ref = None if case.startswith("backbone_") else ref  # the reference timed DERE's own steps
                speed = ref / r["seconds_per_iteration"] if ref else None
                ratio = "-" if speed is None else f"{speed:.2f}x faster" if speed >= 1 else f"{1 / speed:.2f}x slower"
                print(
                    f"{case:<21} {shape:<9} {str(bf16):<5} {r['params_M']:8.2f} {r['seconds_per_iteration']:8.3f} "
                    f"{r['samples_per_s']:10.1f} {r['peak_MiB']:9.0f} {ratio:>18}"
                )


if __name__ == "__main__":
    main()
