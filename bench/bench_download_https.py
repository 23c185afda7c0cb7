"""Benchmark: the verified, resumable HTTPS downloader against a plain streamed GET (the baseline).

Serves one file from a local server on 127.0.0.1 (tests/support/fake_cds.py) and times
(a) baseline: ``requests`` streaming to a file, nothing else;
(b) ``terraflux.sources.download.https.download``: atomic write, size check, sha256 checksum verified,
    format sniffed, sidecars written;
(c) the same with the transfer broken off half-way once (resumed with Range).
Prints each time, its ratio against the baseline (the price of verification: hashing the file twice) and
the peak memory allocated during a download (it streams: must not grow with the file size).

    python bench/bench_download_https.py [--mb 64]
"""

import argparse
import hashlib
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import terraflux  # noqa: F401  (native libraries in a safe order)

import numpy as np
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from terraflux.sources.download.https import download  # noqa: E402
from terraflux.sources.download.settings import ClientSettings  # noqa: E402

from support.fake_cds import FakeFiles  # noqa: E402  (tests/ is put on sys.path above)

SETTINGS = ClientSettings(retry_max=3, sleep_max=0.01, timeout=60)


def payload(megabytes: int) -> bytes:
    """A NetCDF4-looking file (HDF5 signature, then random bytes) of the given size."""
    body = np.random.default_rng(0).integers(0, 256, megabytes << 20, dtype=np.uint8).tobytes()
    return b"\x89HDF\r\n\x1a\n" + body[8:]


def baseline(url: str, target: Path) -> None:
    with requests.get(url, stream=True, timeout=60) as response, open(target, "wb") as handle:
        for block in response.iter_content(1 << 20):
            handle.write(block)


def timed(call, *args, **kwargs) -> float:
    start = time.perf_counter()
    call(*args, **kwargs)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=64, help="file size in MiB")
    args = ap.parse_args()
    data = payload(args.mb)
    checksum = hashlib.sha256(data).hexdigest()
    with tempfile.TemporaryDirectory() as folder, FakeFiles({"/f.nc": data}) as server:
        url = server.url("/f.nc")
        out = Path(folder)
        base = min(timed(baseline, url, out / "b.nc") for _ in range(2))
        ours = min(
            timed(download, url, out / f"o{i}.nc", SETTINGS, allowed=("netcdf4",), checksum=checksum) for i in range(2)
        )
        tracemalloc.start()
        download(url, out / "m.nc", SETTINGS, allowed=("netcdf4",), checksum=checksum)
        traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        server.cut_transfers = server.transfers + 1
        resumed = timed(download, url, out / "r.nc", SETTINGS, allowed=("netcdf4",), checksum=checksum)
        assert (out / "r.nc").read_bytes() == data
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"file: {args.mb} MiB from 127.0.0.1")
    print(f"baseline streamed GET:            {base:7.3f} s  ({args.mb / base:7.1f} MiB/s)")
    print(f"verified download:                {ours:7.3f} s  ratio {ours / base:5.2f} x baseline")
    print(f"verified download, resumed once: {resumed:7.3f} s  ratio {resumed / base:5.2f} x baseline")
    print(
        f"peak Python memory allocated during one verified download: {traced_peak:.2f} MiB "
        "(streams: independent of file size)"
    )
    print(f"peak RSS of the process: {peak:.0f} MB (includes the served file, {args.mb} MiB, and its generation)")


if __name__ == "__main__":
    main()
