"""Benchmark: CSDI sampling, full 50-step ancestral sampler vs strided deterministic DDIM (10 steps).

Trains one CSDI briefly on seasonal series with drivers (gaps, hidden points as in DERE step 5), then imputes
the hidden points of held-out series with both samplers from the same model (samples batched). Prints the
wall-time ratio (target >= 4x faster) and CRPS (normalised and raw) and MAE of both (target: DDIM CRPS within
5 % of the full sampler), plus peak memory. Sizes: the demo config by default, ``--reference`` for the reference
CSDI (4 layers, 64 channels, 8 heads, 128 embeddings, 100 samples).

The device is picked as the stages pick it (CUDA when present, ``--device cpu`` forces the CPU); the timed
samplers are synchronised on CUDA, and peak memory is CUDA's peak allocation there.

    python bench/bench_csdi.py [--reference] [--train-steps 300] [--ddim-steps 10] [--ddim-eta 0] [--device auto]
"""

from __future__ import annotations

import argparse
import math
import resource
import time

import terraflux  # noqa: F401
from terraflux.csdi.impute import _cond, hide_mask, series
from terraflux.csdi.model import CSDI, CSDIConfig
from terraflux.csdi.sample import sample_ancestral, sample_ddim
from terraflux.metrics import ensemble_metrics, point_estimate
from terraflux.train import make_generator, seed_everything, select_device

import torch

DEMO = {
    "layers": 2,
    "channels": 32,
    "heads": 4,
    "diffusion_embedding": 64,
    "time_embedding": 32,
    "feature_embedding": 16,
    "num_steps": 50,
    "beta_start": 1e-4,
    "beta_end": 0.5,
    "n_samples": 16,
}
REFERENCE = {
    **DEMO,
    "layers": 4,
    "channels": 64,
    "heads": 8,
    "diffusion_embedding": 128,
    "time_embedding": 128,
    "n_samples": 100,
}


def world(n_sites: int, years: int, n_drivers: int, seed: int):
    g = make_generator(seed)
    months = torch.arange(12 * years, dtype=torch.float32)
    season = torch.sin(2 * math.pi * (months - 3) / 12)
    amp = 2 + torch.rand(n_sites, 1, generator=g)
    drivers = season[None, :, None] + 0.3 * torch.randn(n_sites, len(months), n_drivers, generator=g)
    flux = amp * (1 + drivers[..., 0]) + 0.2 * torch.randn(n_sites, len(months), generator=g)
    flux[torch.rand(flux.shape, generator=g) < 0.3] = float("nan")
    return flux, drivers


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", action="store_true")
    ap.add_argument("--train-steps", type=int, default=300)
    ap.add_argument("--ddim-steps", type=int, default=10)
    ap.add_argument(
        "--ddim-eta", type=float, default=0.0, help="0: deterministic DDIM; 1: ancestral variance on the strided steps"
    )
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    args = ap.parse_args()
    seed_everything(0)
    device = select_device(args.device, threads=2).device
    sync = torch.cuda.synchronize if device.type == "cuda" else lambda: None
    spec = REFERENCE if args.reference else DEMO
    flux, drivers = world(40, 4, 6, 1)
    mean, std = float(flux.nanmean()), float(flux[torch.isfinite(flux)].std())
    x, observed = (t.to(device) for t in series(flux, mean, std, drivers))
    train_idx, test_idx = torch.arange(32), torch.arange(32, 40)
    model = CSDI(x.shape[1], CSDIConfig.from_dict(spec)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    for _ in range(args.train_steps):
        idx = train_idx[torch.randperm(len(train_idx))[:16]]
        hidden = hide_mask(observed[idx, 0].bool().cpu(), 12, 9, 3).to(device)
        loss = model.loss(x[idx], observed[idx], _cond(observed[idx], hidden))
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(
        f"trained {args.train_steps} steps in {time.perf_counter() - t0:.1f} s (final loss {float(loss.detach()):.3f})"
    )
    model.eval()
    hidden = hide_mask(observed[test_idx, 0].bool().cpu(), 12, 9, 3, make_generator(7)).to(device)
    cond = _cond(observed[test_idx], hidden)
    target = x[test_idx, 0][hidden] * std + mean
    results = {}
    for name, fn in (
        ("ancestral 50", lambda g: sample_ancestral(model, x[test_idx], cond, spec["n_samples"], g)),
        (
            f"ddim {args.ddim_steps}",
            lambda g: sample_ddim(model, x[test_idx], cond, spec["n_samples"], g, args.ddim_steps, eta=args.ddim_eta),
        ),
    ):
        sync()
        t = time.perf_counter()
        s = fn(make_generator(3))[:, :, 0]
        sync()
        sec = time.perf_counter() - t
        at = (s[:, hidden] * std + mean).cpu().numpy()
        truth = target.cpu().numpy()
        results[name] = {"seconds": sec, **ensemble_metrics(at, truth, point_estimate(at, "median"))}
    full, fast = results["ancestral 50"], results[f"ddim {args.ddim_steps}"]
    print(f"{'sampler':<13} {'seconds':>8} {'MAE':>7} {'RMSE':>7} {'CRPS':>7} {'CRPS raw':>9}")
    for name, r in results.items():
        crps, crps_raw = r["crps_quantile_normalised"], r["crps_quantile"]
        print(f"{name:<13} {r['seconds']:8.2f} {r['mae']:7.3f} {r['rmse']:7.3f} {crps:7.4f} {crps_raw:9.4f}")
    crps_ratio = fast["crps_quantile_normalised"] / full["crps_quantile_normalised"]
    print(
        f"time ratio full/ddim: {full['seconds'] / fast['seconds']:.2f}x (target >= 4x); "
        f"CRPS ddim/full: {crps_ratio:.3f} (target <= 1.05); "
        f"{spec['n_samples']} samples x {len(test_idx)} series batched; "
        f"peak {peak_memory(device)}"
    )


def peak_memory(device: torch.device) -> str:
    if device.type == "cuda":
        return f"CUDA allocation {torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB"
    return f"RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"


if __name__ == "__main__":
    main()
