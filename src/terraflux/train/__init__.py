"""Shared training engine for every model stage (DERE, CSDI, IDE): seeds, devices, checkpoint/resume,
data-parallel processes and store-backed training reads.

API
---
Seeding and determinism (:mod:`terraflux.train.seeding`)
    ``derive_seed(master, *names) -> int``  stable per-stage seed from ``run.seed`` and names.
    ``seed_everything(seed, deterministic=True)``  seeds random/numpy/torch; deterministic algorithms
    (strict on CPU), ``cudnn.benchmark=False``, ``CUBLAS_WORKSPACE_CONFIG=:4096:8``.
    ``make_generator(seed)``, ``worker_init_fn``  for ``DataLoader(generator=..., worker_init_fn=...)``.
    ``rng_state()`` / ``set_rng_state(state)``  all global RNG states, loadable with weights_only.

Devices (:mod:`terraflux.train.device`)
    ``select_device(prefer="auto", threads=None) -> DeviceInfo``  CUDA if present else CPU, chosen at run
    time; ``DeviceInfo.as_dict()`` (device, model name, threads, bf16) goes into provenance/metrics.
    ``autocast(info)``  bf16 autocast on CUDA only; a no-op on CPU (fp32, bit-exact).

Checkpoints (:mod:`terraflux.train.checkpoint`; written and read by :mod:`terraflux.outputs`)
    ``cpu_state_dict(module)``.

Loop (:mod:`terraflux.train.engine`)
    ``TrainConfig(max_epochs, patience, grad_clip, checkpoint_every, max_steps_per_epoch=0, min_delta=0,
    scheduler_interval="epoch", log_every=20)``.
    ``Engine(model, optimizer, config, resume_path=..., scheduler=None, device=None, fingerprint="", dist=None)``
    (``dist``: a :class:`terraflux.train.launch.Distributed` of N > 1 data-parallel processes, from
    ``launch.session()``: each rank trains on its part of every batch, gradients summed over ranks,
    batch norm over the whole batch, rank 0 writes the resume checkpoint; see :mod:`terraflux.train.engine`)
    ``.fit(epoch_batches, train_step, validate) -> FitResult``:
      * ``epoch_batches(epoch)`` returns that epoch's batches and must depend only on ``epoch`` (use
        ``seeded_loader(dataset, batch_size=, seed=, epoch=)``);
      * ``train_step(model, batch)`` returns the loss (or ``(loss, {name: value})``); it runs under
        ``autocast``; the engine does zero_grad, backward, gradient clipping (global norm), optimizer step
        and ``scheduler.step()`` per epoch (or per step);
      * ``validate(model)`` returns the validation loss (lower is better), run in eval mode without grad;
      * every ``checkpoint_every`` steps and after every epoch the full state (model, optimizer, scheduler,
        RNG states, epoch, step, position in the epoch, early-stopping state with the best weights, metric
        history) is written atomically to ``resume_path``; calling ``fit`` again (a re-run of a killed job)
        continues from it and ends with bitwise-identical weights on CPU; a checkpoint with another
        ``fingerprint`` (e.g. ``config_hash`` of the stage params) is ignored;
      * early stopping after ``patience`` epochs without improvement; at the end the model holds the best
        validation weights. ``FitResult`` has best_val, best_epoch, steps, epochs, stopped_early,
        resumed_from_step, history (one dict per epoch: train_loss, grad_norm, val_loss, lr, ...), seconds;
        ``FitResult.as_dict()`` (for outputs) leaves out seconds and resumed_from_step, so that outputs are
        bit-identical between runs and between an uninterrupted and a resumed run.

Data-parallel processes (:mod:`terraflux.train.launch`, :mod:`terraflux.train.sync`)
    ``launch.rank_log(path)``, ``launch.start(snakemake)`` (re-executes a rule's script as its N srun tasks),
    ``launch.session()`` (joins the process group; yields the ``Distributed`` to give the engine); the engine
    synchronises gradients and batch-norm statistics with :mod:`terraflux.train.sync`.

Training reads (:mod:`terraflux.train.reads`)
    ``SampleReader``, ``StoreArray``, ``load_or_cache``: samples read from zarr stores through a bounded cache of
    decoded chunks; ``chunk_grouped_order``: an epoch order that decodes each chunk about once.
"""

from terraflux.train.checkpoint import cpu_state_dict
from terraflux.train.device import DeviceInfo, autocast, select_device
from terraflux.train.engine import Engine, FitResult, TrainConfig, seeded_loader
from terraflux.train.seeding import (
    derive_seed,
    make_generator,
    rng_state,
    seed_everything,
    set_rng_state,
    worker_init_fn,
)

__all__ = [
    "DeviceInfo",
    "Engine",
    "FitResult",
    "TrainConfig",
    "autocast",
    "cpu_state_dict",
    "derive_seed",
    "make_generator",
    "rng_state",
    "seed_everything",
    "seeded_loader",
    "select_device",
    "set_rng_state",
    "worker_init_fn",
]
