"""Benchmark: training reads from the prepared stores vs from in-memory numpy arrays (issue 4).

Two access patterns, with the chunking of ``terraflux.prepare.era5_land.CHUNKS``:

- DERE: one random model cell, all months, every variable (monthly store, chunks all months x 16 x 16);
- IDE: 8 consecutive weeks (random start) x a random 64 x 64 tile, ``{v}_mean`` and ``{v}_std`` of every
  variable (weekly store, chunks 8 weeks x 64 x 64); and the same on chunk boundaries (one chunk per array);
- DERE after loading the (small) monthly store into memory once, as a DERE data set can.

Each pattern is timed from the zarr store (opened once, as a data loader does) and from the same data held in
numpy; the store is written with the prepare layer's codec (Blosc zstd + shuffle) and, for comparison, with
Blosc lz4 and without compression. Prints samples/s and the ratio store / in-memory (target >= 0.5).

    python bench/bench_prepare_reads.py [--dir /tmp/tf-bench-reads] [--seconds 3]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import BloscCodec

import terraflux  # noqa: F401
from terraflux.prepare import stores
from terraflux.prepare.era5_land import CHUNKS

CODECS = {
    "zstd+shuffle (prepare)": stores.COMPRESSOR,
    "lz4+shuffle": BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"),
    "none": None,
}


def smooth_field(rng, shape):
    """Float32 data with realistic compressibility (smooth in space and time plus noise)."""
    base = np.cumsum(rng.standard_normal(shape, dtype=np.float32), axis=-1) * 0.1
    return (280 + base + 0.01 * rng.standard_normal(shape, dtype=np.float32)).astype(np.float32)


def write(path: Path, arrays: dict[str, np.ndarray], chunks: tuple, codec) -> zarr.Group:
    if path.exists():
        shutil.rmtree(path)
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    for name, values in arrays.items():
        arr = group.create_array(name, shape=values.shape, chunks=chunks, dtype=values.dtype, compressors=[codec] if codec else None, fill_value=np.nan)
        arr[:] = values
    return zarr.open_group(str(path), mode="r")


def throughput(sample, seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        sample()
        count += 1
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/tf-bench-reads")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--variables", type=int, default=10)
    args = parser.parse_args()
    root = Path(args.dir)
    rng = np.random.default_rng(0)

    # DERE: 30 years of months on a 96 x 128 model grid
    months, ny, nx = 360, 96, 128
    monthly = {f"v{i}": smooth_field(rng, (months, ny, nx)) for i in range(args.variables)}
    # IDE: 10 years of weeks on a 256 x 256 grid, mean and std of 6 variables
    n_weeks, wy, wx = 520, 256, 256
    weekly = {f"v{i}_{s}": smooth_field(rng, (n_weeks, wy, wx)) for i in range(6) for s in ("mean", "std")}
    mchunks = (months, CHUNKS["monthly"]["latitude"], CHUNKS["monthly"]["longitude"])
    wchunks = (CHUNKS["weekly"]["time"], CHUNKS["weekly"]["latitude"], CHUNKS["weekly"]["longitude"])

    def dere(source):
        def sample():
            iy, ix = rng.integers(ny), rng.integers(nx)
            return np.stack([source[name][:, iy, ix] for name in monthly])

        return sample

    def ide(source):
        def sample():
            t = rng.integers(n_weeks - 8)
            y, x = rng.integers(wy - 64), rng.integers(wx - 64)
            return np.stack([source[name][t : t + 8, y : y + 64, x : x + 64] for name in weekly])

        return sample

    def ide_aligned(source):
        """IDE windows on chunk boundaries (8-week steps, 64 x 64 tiles): one chunk per array and sample."""

        def sample():
            t = 8 * rng.integers(n_weeks // 8)
            y, x = 64 * rng.integers(wy // 64), 64 * rng.integers(wx // 64)
            return np.stack([source[name][t : t + 8, y : y + 64, x : x + 64] for name in weekly])

        return sample

    memory = {
        "DERE": throughput(dere(monthly), args.seconds),
        "IDE": throughput(ide(weekly), args.seconds),
        "IDE aligned": throughput(ide_aligned(weekly), args.seconds),
    }
    print(f"in-memory numpy: DERE {memory['DERE']:.0f} samples/s, IDE {memory['IDE']:.0f} samples/s, IDE aligned {memory['IDE aligned']:.0f}")
    for label, codec in CODECS.items():
        mgroup = write(root / "monthly.zarr", monthly, mchunks, codec)
        wgroup = write(root / "weekly.zarr", weekly, wchunks, codec)
        marrays = {name: mgroup[name] for name in monthly}
        warrays = {name: wgroup[name] for name in weekly}
        size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) / 1e6
        rates = {
            "DERE": throughput(dere(marrays), args.seconds),
            "IDE": throughput(ide(warrays), args.seconds),
            "IDE aligned": throughput(ide_aligned(warrays), args.seconds),
        }
        # a DERE loader holds the small monthly store in memory after one read: time that read
        start = time.perf_counter()
        loaded = {name: marrays[name][:] for name in monthly}
        load_s = time.perf_counter() - start
        rates["DERE loaded"] = throughput(dere(loaded), args.seconds)
        print(
            f"zarr {label:24s} ({size:6.0f} MB): DERE {rates['DERE']:6.0f}/s ratio {rates['DERE'] / memory['DERE']:.3f}; "
            f"DERE after one {load_s:.2f} s read {rates['DERE loaded'] / memory['DERE']:.2f}; "
            f"IDE {rates['IDE']:6.0f}/s ratio {rates['IDE'] / memory['IDE']:.2f}; "
            f"IDE chunk-aligned {rates['IDE aligned']:6.0f}/s ratio {rates['IDE aligned'] / memory['IDE aligned']:.2f}"
        )
    shutil.rmtree(root)


if __name__ == "__main__":
    main()
