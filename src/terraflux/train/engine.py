"""A small training engine: epochs of optimizer steps, validation, early stopping, gradient clipping,
metrics history, periodic atomic checkpoints and bit-exact resume (CPU) when a killed job is re-run.

Usage (see the package docstring for the full contract)::

    engine = Engine(model, optimizer, TrainConfig(max_epochs=20, patience=5, grad_clip=1.0, checkpoint_every=50),
                    resume_path=out_dir / ".resume" / "last.pt", scheduler=StepLR(optimizer, 1, 0.5),
                    device=select_device(), fingerprint=config_hash(params))
    result = engine.fit(epoch_batches, train_step, validate)

- ``epoch_batches(epoch) -> Iterable``: the batches of one epoch; must be a pure function of ``epoch``
  (e.g. :func:`seeded_loader`), so a resumed epoch replays the same order and skips what was done.
- ``train_step(model, batch) -> loss tensor`` (run under :func:`autocast`; the engine does backward,
  clipping and the optimizer step). It may return ``(loss, {"name": float, ...})`` to log extra values.
- ``validate(model) -> float`` (lower is better; called under ``torch.no_grad`` and ``model.eval()``).

Data-parallel (``dist=`` a :class:`~terraflux.train.launch.Distributed` of N > 1 processes, from
``launch.session()``): every rank builds the same global batches (``epoch_batches`` is a pure function of the
epoch) and the engine gives ``train_step`` only this rank's contiguous part; after backward one all-reduce
makes every rank's gradient the samples-weighted sum of the ranks' gradients (the whole-batch gradient of a
per-sample mean loss) and the logged loss the whole-batch loss; clipping and the optimiser step then see the
same gradient on every rank. Batch-norm layers use the whole global batch's statistics while training.
Parameters and buffers are broadcast from rank 0 when ``fit`` starts, ``validate`` runs on every rank and
rank 0's value is used by all (early stopping decides alike), and only rank 0 writes the resume checkpoint
(every rank reads it on a re-run and they must agree on the step they resume from). The model is not
wrapped: ``train_step`` and ``validate`` get the plain module. One process: nothing changes. The maths and
its equivalence with one process: :mod:`terraflux.train.sync`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from terraflux.outputs import load_checkpoint, save_checkpoint
from terraflux.train.checkpoint import cpu_state_dict
from terraflux.train.device import DeviceInfo, autocast, select_device
from terraflux.train.launch import Distributed
from terraflux.train.seeding import derive_seed, make_generator, rng_state, set_rng_state, worker_init_fn
from terraflux.train.sync import (
    agree,
    broadcast_from_rank0,
    global_batch_norm,
    rank0_value,
    reduce_gradients,
    split_batch,
)

import torch
from torch.utils.data import DataLoader, Dataset

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Loop settings. The ones a stage's config holds have no default here: the stage passes its config's.

    max_epochs: upper bound on epochs. patience: epochs without improvement of the validation loss by
    more than ``min_delta`` before stopping (0 disables early stopping). grad_clip: max global L2 norm
    (0 disables). checkpoint_every: optimizer steps between resume checkpoints (also written after every
    epoch). max_steps_per_epoch: cap on steps per epoch (0 = whole epoch; only DERE's config caps it).
    min_delta: improvement that counts (0: any). scheduler_interval: 'epoch' or 'step' (when
    ``scheduler.step()`` is called; a property of the schedule). log_every: steps between log lines.
    validate_start: validate the starting weights before the first step and keep them as the result if no
    epoch beats them (for fine-tuning: the pretrained model is a candidate; history entry with epoch -1).
    """

    max_epochs: int
    patience: int
    grad_clip: float
    checkpoint_every: int
    max_steps_per_epoch: int = 0
    min_delta: float = 0.0
    scheduler_interval: str = "epoch"
    log_every: int = 20
    validate_start: bool = False

    def __post_init__(self) -> None:
        if self.max_epochs < 1:
            raise ValueError("max_epochs must be >= 1")
        if self.checkpoint_every < 1:
            raise ValueError("checkpoint_every must be >= 1")
        if self.scheduler_interval not in ("epoch", "step"):
            raise ValueError("scheduler_interval must be 'epoch' or 'step'")


@dataclass
class FitResult:
    """What :meth:`Engine.fit` returns: best validation loss and epoch, steps, history, whether it stopped
    early, whether it resumed, and wall time of this call."""

    best_val: float
    best_epoch: int
    steps: int
    epochs: int
    stopped_early: bool
    resumed_from_step: int | None
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        """The reproducible part, for outputs: without the wall time and the resume point, which differ
        between an uninterrupted run and a preempted-and-resumed one (log them instead)."""
        return {k: v for k, v in asdict(self).items() if k not in ("seconds", "resumed_from_step")}


def seeded_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    seed: int,
    epoch: int,
    shuffle: bool = True,
    num_workers: int = 0,
    drop_last: bool = False,
    collate_fn=None,
) -> DataLoader:
    """A DataLoader whose order depends only on (seed, epoch): for ``epoch_batches`` of :meth:`Engine.fit`."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        num_workers=num_workers,
        generator=make_generator(derive_seed(seed, "epoch", epoch)),
        worker_init_fn=worker_init_fn,
        collate_fn=collate_fn,
    )


def _to_float(value: Any) -> float:
    return float(value.detach().float().cpu()) if torch.is_tensor(value) else float(value)


class Engine:
    """Train ``model`` with ``optimizer`` (built by the caller over the trainable parameters only).

    ``resume_path``: the rolling checkpoint (model, optimizer, scheduler, RNG states, epoch/step,
    position in the epoch, early-stopping state with the best weights, history). If it exists and its
    ``fingerprint`` matches, :meth:`fit` continues from it; a different fingerprint (changed config or
    inputs) starts afresh. ``device``: from :func:`select_device` (default: chosen now).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        config: TrainConfig,
        *,
        resume_path: str | Path,
        scheduler: Any = None,
        device: DeviceInfo | None = None,
        fingerprint: str = "",
        on_step: Callable[[int], None] | None = None,
        dist: Distributed | None = None,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.config = config
        self.scheduler = scheduler
        self.device = device or select_device()
        self.resume_path = Path(resume_path)
        self.fingerprint = fingerprint
        self.on_step = on_step
        self.dist = dist or Distributed()
        # loop state
        self.epoch = 0
        self.step = 0
        self.batch_in_epoch = 0
        self.best_val = math.inf
        self.best_epoch = -1
        self.bad_epochs = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.history: list[dict] = []
        self.done = False
        self.stopped_early = False
        self.epoch_sums: dict[str, float] = {}
        self.epoch_count = 0

    # ---------------------------------------------------------------- checkpoint state
    def state_dict(self) -> dict:
        return {
            "fingerprint": self.fingerprint,
            "model": cpu_state_dict(self.model),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "rng": rng_state(),
            "epoch": self.epoch,
            "step": self.step,
            "batch_in_epoch": self.batch_in_epoch,
            "best_val": self.best_val,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "best_model": self.best_state,
            "history": self.history,
            "done": self.done,
            "stopped_early": self.stopped_early,
            "epoch_sums": self.epoch_sums,
            "epoch_count": self.epoch_count,
            "config": asdict(self.config),
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        for name in (
            "epoch",
            "step",
            "batch_in_epoch",
            "best_val",
            "best_epoch",
            "bad_epochs",
            "history",
            "done",
            "stopped_early",
            "epoch_sums",
            "epoch_count",
        ):
            setattr(self, name, state[name])
        self.best_state = state["best_model"]

    def save(self) -> None:
        """Write the resume checkpoint (rank 0 only: every rank holds the same state)."""
        if self.dist.is_main:
            save_checkpoint(self.resume_path, self.state_dict(), provenance=None)

    def _try_resume(self) -> tuple[int | None, dict | None]:
        if not self.resume_path.is_file():
            return None, None
        state = load_checkpoint(self.resume_path, map_location="cpu")
        if state.get("fingerprint") != self.fingerprint:
            LOG.warning("resume checkpoint %s belongs to another configuration: starting afresh", self.resume_path)
            return None, None
        self.load_state_dict(state)
        LOG.info(
            "resuming from %s at epoch %d, step %d (batch %d of the epoch)",
            self.resume_path,
            self.epoch,
            self.step,
            self.batch_in_epoch,
        )
        return self.step, state["rng"]

    # ---------------------------------------------------------------- loop
    def _backward(self, loss: torch.Tensor, extra: dict, share: float) -> tuple[float, dict[str, float]]:
        """Gradients of ``loss`` (combined over ranks); returns the (whole-batch) loss and extras as floats."""
        self.optimizer.zero_grad(set_to_none=True)
        (loss * share if self.dist.enabled else loss).backward()
        values = [_to_float(loss), *(_to_float(v) for v in extra.values())]
        if self.dist.enabled:
            params = [p for group in self.optimizer.param_groups for p in group["params"]]
            values = reduce_gradients(self.dist, params, share, values)
        return values[0], dict(zip(extra, values[1:], strict=True))

    def _optimizer_step(self) -> float:
        norm = 0.0
        if self.config.grad_clip > 0:
            params = [p for group in self.optimizer.param_groups for p in group["params"] if p.grad is not None]
            norm = _to_float(torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip))
        self.optimizer.step()
        if self.scheduler is not None and self.config.scheduler_interval == "step":
            self.scheduler.step()
        return norm

    def fit(
        self,
        epoch_batches: Callable[[int], Iterable],
        train_step: Callable[[torch.nn.Module, Any], Any],
        validate: Callable[[torch.nn.Module], float] | None = None,
    ) -> FitResult:
        """Run (or continue) training; at the end the model holds the best-validation weights."""
        started = time.perf_counter()
        self.model.to(self.device.device)
        resumed, saved_rng = self._try_resume()
        if self.dist.enabled:
            agree(
                self.dist,
                -1 if resumed is None else resumed,
                f"the step to resume from ({self.resume_path} must be on a filesystem every rank sees)",
            )
            broadcast_from_rank0(self.dist, [*self.model.parameters(), *self.model.buffers()])
        if self.done:
            self._restore_best()
            return self._result(resumed, started)
        return self._fit(epoch_batches, train_step, validate, resumed, saved_rng, started)

    def _fit(
        self, epoch_batches, train_step, validate, resumed: int | None, saved_rng: dict | None, started: float
    ) -> FitResult:
        cfg = self.config
        if cfg.validate_start and validate is not None and self.step == 0 and not self.history:
            self._validate_start(validate)
        while self.epoch < cfg.max_epochs:
            self.model.train()
            skip = self.batch_in_epoch
            for index, batch in enumerate(epoch_batches(self.epoch)):
                if index < skip:
                    continue
                if saved_rng is not None:  # after replaying the skipped part of the order: exact RNG point
                    set_rng_state(saved_rng)
                    saved_rng = None
                if cfg.max_steps_per_epoch and index >= cfg.max_steps_per_epoch:
                    break
                part, share = split_batch(self.dist, batch)
                # batch norm with the statistics of the parts of every rank, unless each rank holds all of it
                batch_norm = nullcontext() if part is batch else global_batch_norm(self.dist, self.model)
                with autocast(self.device), batch_norm:
                    out = train_step(self.model, part)
                loss, extra = out if isinstance(out, tuple) else (out, {})
                loss_value, extra = self._backward(loss, extra, share)
                if not math.isfinite(loss_value):
                    raise FloatingPointError(
                        f"training loss is {loss_value} at epoch {self.epoch}, step {self.step}: "
                        "lower the learning rate or check the inputs for NaN"
                    )
                norm = self._optimizer_step()
                self.step += 1
                self.batch_in_epoch = index + 1
                self.epoch_count += 1
                for key, value in {"loss": loss_value, "grad_norm": norm, **extra}.items():
                    self.epoch_sums[key] = self.epoch_sums.get(key, 0.0) + value
                if self.step % cfg.log_every == 0:
                    LOG.info("epoch %d step %d loss %.5g", self.epoch, self.step, loss_value)
                if self.step % cfg.checkpoint_every == 0:
                    self.save()
                if self.on_step is not None:
                    self.on_step(self.step)
            if saved_rng is not None:  # resumed exactly at an epoch's end
                set_rng_state(saved_rng)
                saved_rng = None
            record = {
                "epoch": self.epoch,
                "step": self.step,
                **{f"train_{k}": v / max(self.epoch_count, 1) for k, v in self.epoch_sums.items()},
            }
            if validate is not None:
                val = record["val_loss"] = self._validate(validate)
            else:
                val = record.get("train_loss", math.inf)
            record["lr"] = self.optimizer.param_groups[0]["lr"]
            self.history.append(record)
            LOG.info(
                "epoch %d done: %s",
                self.epoch,
                {k: round(v, 6) if isinstance(v, float) else v for k, v in record.items()},
            )
            if val < self.best_val - cfg.min_delta:
                self.best_val, self.best_epoch, self.bad_epochs = val, self.epoch, 0
                self.best_state = cpu_state_dict(self.model)
            else:
                self.bad_epochs += 1
            if self.scheduler is not None and cfg.scheduler_interval == "epoch":
                self.scheduler.step()
            self.epoch += 1
            self.batch_in_epoch = 0
            self.epoch_sums, self.epoch_count = {}, 0
            if cfg.patience and self.bad_epochs >= cfg.patience:
                self.stopped_early = True
                LOG.info(
                    "early stopping after epoch %d (best epoch %d, val %.5g)",
                    self.epoch - 1,
                    self.best_epoch,
                    self.best_val,
                )
                break
            if self.epoch < cfg.max_epochs:
                self.save()
        self.done = True
        self.save()
        self._restore_best()
        return self._result(resumed, started)

    def _validate(self, validate: Callable[[torch.nn.Module], float]) -> float:
        self.model.eval()
        with torch.no_grad(), autocast(self.device):
            return rank0_value(self.dist, float(validate(self.model)))

    def _validate_start(self, validate: Callable[[torch.nn.Module], float]) -> None:
        """The starting weights as the first candidate: history entry with epoch -1."""
        val = self._validate(validate)
        self.history.append({"epoch": -1, "step": 0, "val_loss": val, "lr": self.optimizer.param_groups[0]["lr"]})
        LOG.info("starting weights: val %.6g", val)
        self.best_val, self.best_epoch = val, -1
        self.best_state = cpu_state_dict(self.model)

    def _restore_best(self) -> None:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)

    def _result(self, resumed: int | None, started: float) -> FitResult:
        seconds = time.perf_counter() - started
        LOG.info("fit: %d steps, %d epochs in %.1f s (resumed from step %s)", self.step, self.epoch, seconds, resumed)
        return FitResult(
            best_val=self.best_val,
            best_epoch=self.best_epoch,
            steps=self.step,
            epochs=self.epoch,
            stopped_early=self.stopped_early,
            resumed_from_step=resumed,
            history=list(self.history),
            seconds=seconds,
        )
