"""The shared training engine: seeding, checkpoints, early stopping, clipping, kill-and-resume equality."""

import json
import subprocess
import sys
import textwrap

import terraflux  # noqa: F401
from terraflux.train import (
    Engine,
    TrainConfig,
    autocast,
    derive_seed,
    seed_everything,
    seeded_loader,
    select_device,
)

import pytest
import torch

SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys
    import terraflux
    import torch
    from torch.utils.data import TensorDataset
    from terraflux.train import Engine, TrainConfig, seed_everything, seeded_loader, select_device

    resume, out, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(1)
    seed_everything(7)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 5, generator=g)
    y = x @ torch.randn(5, 1, generator=g) + 0.1 * torch.randn(40, 1, generator=g)
    data = TensorDataset(x, y)
    model = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Dropout(0.3), torch.nn.Linear(16, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, 1, 0.5)

    def on_step(step):
        if step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    config = TrainConfig(max_epochs=4, patience=0, checkpoint_every=3, grad_clip=1.0)
    engine = Engine(model, opt, config, resume_path=resume,
                    scheduler=sched, device=select_device("cpu"), fingerprint="f1", on_step=on_step)
    result = engine.fit(lambda e: seeded_loader(data, batch_size=8, seed=11, epoch=e),
                        lambda m, b: torch.nn.functional.mse_loss(m(b[0]), b[1]),
                        lambda m: float(torch.nn.functional.mse_loss(m(x), y)))
    torch.save(model.state_dict(), out)
    print(json.dumps({"resumed": result.resumed_from_step, "steps": result.steps, "history": result.history}))
    """
)


def _run(script, resume, out, kill_at):
    return subprocess.run(
        [sys.executable, str(script), str(resume), str(out), str(kill_at)], capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_kill_and_resume_gives_identical_weights(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    clean = _run(script, tmp_path / "clean.pt", tmp_path / "clean_final.pt", -1)
    assert clean.returncode == 0, clean.stderr
    # killed mid-epoch (5 batches per epoch; checkpoint at steps 3, 5 (epoch end), 6, 9, ...; killed at 8)
    killed = _run(script, tmp_path / "resume.pt", tmp_path / "killed_final.pt", 8)
    assert killed.returncode == -9
    assert (tmp_path / "resume.pt").is_file() and not (tmp_path / "killed_final.pt").exists()
    rerun = _run(script, tmp_path / "resume.pt", tmp_path / "killed_final.pt", -1)
    assert rerun.returncode == 0, rerun.stderr
    info, ref = json.loads(rerun.stdout), json.loads(clean.stdout)
    assert info["resumed"] == 6 and ref["resumed"] is None
    assert info["steps"] == ref["steps"] == 20
    assert info["history"] == ref["history"]
    a = torch.load(tmp_path / "clean_final.pt", weights_only=True)
    b = torch.load(tmp_path / "killed_final.pt", weights_only=True)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # a third run finds the finished state and does not train again
    again = _run(script, tmp_path / "resume.pt", tmp_path / "again.pt", 1)
    assert again.returncode == 0 and json.loads(again.stdout)["steps"] == 20


def _toy(n=32):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 3, generator=g)
    return torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True))


def test_early_stopping_restores_best_weights(tmp_path):
    seed_everything(0)
    data = _toy()
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    vals = iter([1.0, 0.5, 0.6, 0.7, 0.8, 0.9])
    snapshots = []

    def validate(m):
        snapshots.append(m.weight.detach().clone())
        return next(vals)

    engine = Engine(
        model,
        opt,
        TrainConfig(max_epochs=6, patience=2, checkpoint_every=100, grad_clip=1.0),
        resume_path=tmp_path / "r.pt",
    )
    result = engine.fit(
        lambda e: seeded_loader(data, batch_size=8, seed=1, epoch=e),
        lambda m, b: ((m(b[0]) - b[1]) ** 2).mean(),
        validate,
    )
    assert result.stopped_early and result.epochs == 4 and result.best_epoch == 1 and result.best_val == 0.5
    assert torch.equal(model.weight, snapshots[1])
    assert [h["epoch"] for h in result.history] == [0, 1, 2, 3]


def test_validate_start_keeps_the_starting_weights_when_no_epoch_beats_them(tmp_path):
    """Fine-tuning from good weights: with validate_start the start is the first candidate (epoch -1)."""
    seed_everything(0)
    data = _toy()
    model = torch.nn.Linear(3, 1)
    start = model.weight.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)

    def run(validate_start, vals, path):
        model.weight.data.copy_(start)
        values = iter(vals)
        engine = Engine(
            model,
            opt,
            TrainConfig(max_epochs=4, patience=2, checkpoint_every=100, grad_clip=1.0, validate_start=validate_start),
            resume_path=tmp_path / path,
        )
        return engine.fit(
            lambda e: seeded_loader(data, batch_size=8, seed=1, epoch=e),
            lambda m, b: ((m(b[0]) - b[1]) ** 2).mean(),
            lambda m: next(values),
        )

    worse = run(True, [0.4, 0.5, 0.6, 0.7], "a.pt")
    assert worse.best_epoch == -1 and worse.best_val == 0.4 and worse.stopped_early and worse.epochs == 2
    assert torch.equal(model.weight, start)
    assert [h["epoch"] for h in worse.history] == [-1, 0, 1] and worse.history[0]["step"] == 0
    better = run(True, [0.9, 0.5, 0.6, 0.7], "b.pt")
    assert better.best_epoch == 0 and not torch.equal(model.weight, start)
    without = run(False, [0.5, 0.6, 0.7, 0.8], "c.pt")
    assert without.best_epoch == 0 and [h["epoch"] for h in without.history] == [0, 1, 2]


def test_gradient_clipping_bounds_the_update(tmp_path):
    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    batch = (torch.tensor([[100.0]]), torch.tensor([[1e4]]))
    engine = Engine(
        model,
        opt,
        TrainConfig(max_epochs=1, patience=0, grad_clip=0.5, checkpoint_every=100),
        resume_path=tmp_path / "r.pt",
    )
    engine.fit(lambda e: [batch], lambda m, b: ((m(b[0]) - b[1]) ** 2).mean())
    assert abs(float(model.weight.detach())) == pytest.approx(0.5)
    assert engine.history[0]["train_grad_norm"] == pytest.approx(2e6)


def test_non_finite_loss_is_an_error(tmp_path):
    model = torch.nn.Linear(1, 1)
    engine = Engine(
        model,
        torch.optim.SGD(model.parameters(), lr=1.0),
        TrainConfig(max_epochs=1, patience=5, grad_clip=1.0, checkpoint_every=100),
        resume_path=tmp_path / "r.pt",
    )
    with pytest.raises(FloatingPointError, match="epoch 0"):
        engine.fit(lambda e: [torch.ones(1, 1)], lambda m, b: m(b).sum() * float("nan"))


def test_other_fingerprint_starts_afresh(tmp_path):
    data = _toy()

    def train(fp):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 1)
        engine = Engine(
            model,
            torch.optim.SGD(model.parameters(), lr=0.1),
            TrainConfig(max_epochs=2, patience=0, grad_clip=1.0, checkpoint_every=100),
            resume_path=tmp_path / "r.pt",
            fingerprint=fp,
        )
        return engine.fit(
            lambda e: seeded_loader(data, batch_size=8, seed=1, epoch=e), lambda m, b: ((m(b[0]) - b[1]) ** 2).mean()
        )

    assert train("a").resumed_from_step is None
    assert train("a").resumed_from_step == 8  # finished state found
    assert train("b").resumed_from_step is None


def test_seeds_and_loaders_are_reproducible():
    assert derive_seed(1, "dere", "step1") == derive_seed(1, "dere", "step1")
    assert derive_seed(1, "dere", "step1") != derive_seed(1, "dere", "step2")
    assert 0 <= derive_seed(2**40, "x") < 2**63
    data = _toy(20)

    def order(epoch):
        return [b[0].sum().item() for b in seeded_loader(data, batch_size=4, seed=5, epoch=epoch, num_workers=0)]

    torch.manual_seed(123)
    first = order(0)
    torch.manual_seed(999)  # the global RNG does not change a seeded loader's order
    assert order(0) == first and order(1) != first


def test_device_selection_and_autocast_on_cpu():
    info = select_device("cpu")
    assert info.device.type == "cpu" and not info.bf16 and info.as_dict()["device"] == "cpu"
    with autocast(info):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    with pytest.raises(ValueError):
        select_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            select_device("cuda")
