"""Seeds and determinism: one master seed from config, derived per stage; bit-identical runs on CPU.

- :func:`derive_seed` turns the run's master seed and a stage name into a stable 63-bit seed
  (sha256, independent of Python's hash randomisation).
- :func:`seed_everything` seeds ``random``, ``numpy`` and ``torch`` and switches on deterministic
  algorithms (``torch.use_deterministic_algorithms(True)``, ``cudnn.benchmark = False``,
  ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` for CUDA).
- :func:`make_generator` and :func:`worker_init_fn` make a ``DataLoader``'s shuffling and its worker
  processes reproducible (pass ``generator=`` and ``worker_init_fn=``).
"""

from __future__ import annotations

import hashlib
import os
import random

import numpy as np
import torch


def derive_seed(master: int, *names: object) -> int:
    """A stable seed in [0, 2**63) from the master seed and any names (stage, network, epoch...)."""
    text = "/".join([str(int(master))] + [str(n) for n in names])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed python, numpy and torch (CPU and CUDA) and, by default, ask for deterministic algorithms.

    On CPU every kernel used here is deterministic, so the check is strict; on CUDA a few kernels have
    no deterministic version, so only a warning is raised there (the GPU model is recorded instead).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=torch.cuda.is_available())


def make_generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed`` (for ``DataLoader(generator=...)``, samplers, masks)."""
    generator = torch.Generator()
    generator.manual_seed(int(seed) % 2**63)
    return generator


def worker_init_fn(worker_id: int) -> None:
    """Seed ``random`` and ``numpy`` in a DataLoader worker from the seed torch gave that worker.

    torch derives each worker's seed from the loader's generator, so a seeded generator makes every
    worker's numpy/random streams reproducible too.
    """
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def rng_state() -> dict:
    """The global RNG states of python, numpy and torch (and CUDA if present), as tensors/ints only,
    so they load with ``torch.load(weights_only=True)``."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64), "gauss": gauss},
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore the states saved by :func:`rng_state`."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["internal"].tolist()), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state(
        (npy["kind"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"], npy["cached"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
