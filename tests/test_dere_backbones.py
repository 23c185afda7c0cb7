"""The six sequence backbones: one interface, output shapes, gradients to every parameter, and each learns a
known sequence-to-sequence map that no linear model can."""

import math

import terraflux  # noqa: F401
from terraflux.dere.backbones import BACKBONES, NAMES, BackboneConfig, build_backbone
from terraflux.dere.backbones.simpletm import StationaryWavelet

import pytest
import torch

SIZES = {
    "d_model": 32,
    "n_heads": 4,
    "e_layers": 2,
    "d_layers": 1,
    "d_ff": 64,
    "dropout": 0.0,
    "factor": 2,
    "moving_avg": 13,
    "modes": 6,
    "patch_len": 6,
    "wavelet": "db2",
    "wavelet_levels": 2,
    "geometric_weight": 0.5,
}


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and the CPU time is the one the demo budget counts)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def config(name: str, **kw) -> BackboneConfig:
    return BackboneConfig.from_dict(
        {**SIZES, "name": name, "attention": "prob" if name == "informer" else "full", **kw}
    )


def test_registry_holds_the_six_backbones_of_the_comparison():
    assert NAMES == ("transformer", "informer", "fedformer", "itransformer", "timexer", "simpletm")
    assert set(BACKBONES) == set(NAMES)
    with pytest.raises(ValueError, match="dere.backbone.name"):
        config("lstm")
    with pytest.raises(KeyError, match="modes"):
        BackboneConfig.from_dict(
            {k: v for k, v in {**SIZES, "name": "fedformer", "attention": "full"}.items() if k != "modes"}
        )
    with pytest.raises(ValueError, match="odd"):
        config("fedformer", moving_avg=4)
    with pytest.raises(ValueError, match="wavelet_levels"):
        build_backbone(config("simpletm", wavelet_levels=5), 3, 2, 20)


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_gradient_reaches_every_parameter(name):
    torch.manual_seed(0)
    net = build_backbone(config(name), 5, 3, 20, n_heads=2)  # 20 steps: not a multiple of TimeXer's patches
    x = torch.randn(4, 20, 5)
    assert net(x).shape == (4, 20, 3)
    both = net.forward_heads(x, [0, 1])
    assert both.shape == (4, 2, 20, 3)
    both.pow(2).mean().backward()
    dead = [n for n, p in net.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert not dead, f"{name}: no gradient reaches {dead}"
    trunk = {id(p) for m in net.shared_modules() for p in m.parameters()}
    heads = {id(p) for p in net.heads.parameters()}
    assert trunk and heads and not trunk & heads and trunk | heads == {id(p) for p in net.parameters()}
    full = build_backbone(config(name, attention="full"), 5, 3, 20, n_heads=2).eval()  # no random key sample
    with torch.no_grad():
        torch.testing.assert_close(full.forward_heads(x, [0, 1])[:, 1], full(x, head=1))  # head 1 on the one trunk


def test_stationary_wavelet_inverts_itself_with_its_initial_filters():
    torch.manual_seed(0)
    for wavelet, levels in (("haar", 3), ("db2", 2), ("sym4", 1)):
        w = StationaryWavelet(wavelet, levels, 32)
        x = torch.randn(3, 5, 32)
        parts = w.analyse(x)
        assert parts.shape == (3, 5, levels + 1, 32)
        torch.testing.assert_close(w.synthesise(parts), x, atol=1e-5, rtol=0)
        # orthogonal filters conserve energy: sum over levels of |coefficients|^2 / 2^levels-weighted
        assert torch.allclose(parts[:, :, 0].mean(-1) * 2 ** (-levels / 2), x.mean(-1), atol=1e-5)
    with pytest.raises(ValueError, match="orthogonal"):
        StationaryWavelet("bior2.2", 1, 32)


def amplitude_task(n: int, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A map that needs the whole window and a nonlinearity: each sequence has an amplitude a ~ U(-2, 2);
    drivers x1 = a sin(2 pi t / 12), x2 ~ N(0, 1), and the month's sin and cos; target
    y = a^2 cos(2 pi t / 12) + 0.5 x2.

    The best linear map of the four drivers at the same step reaches MSE Var(a^2) E[cos^2] = (16/5 - 16/9) / 2
    = 0.711 of Var(y) = E[a^4] / 2 + 0.25 = 1.85: a^2 cos is uncorrelated with x1 (E[a^3] = 0) and its
    projection on cos is E[a^2] cos = 4/3 cos, leaving (a^2 - 4/3) cos. A model that reads a from the window
    and squares it can reach 0."""
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(n, 1, generator=g) * 4 - 2
    t = torch.arange(length, dtype=torch.float32)[None]
    sin, cos = torch.sin(2 * math.pi * t / 12), torch.cos(2 * math.pi * t / 12)
    x2 = torch.randn(n, length, generator=g)
    x = torch.stack([a * sin, x2, sin.expand(n, -1), cos.expand(n, -1)], -1)
    y = (a**2 * cos + 0.5 * x2)[..., None]
    return x, y


def linear_mse(x: torch.Tensor, y: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor) -> float:
    """Least-squares linear map (with intercept) of the drivers at each step, fitted on (x, y)."""
    design = lambda v: torch.cat([v.reshape(-1, v.shape[-1]), torch.ones(v.shape[0] * v.shape[1], 1)], 1)  # noqa: E731
    coef = torch.linalg.lstsq(design(x).double(), y.reshape(-1, 1).double()).solution
    return float((design(x_test).double() @ coef - y_test.reshape(-1, 1).double()).pow(2).mean())


@pytest.mark.parametrize("name", NAMES)
def test_each_backbone_learns_a_map_no_linear_model_can(name):
    torch.manual_seed(0)
    x, y = amplitude_task(256, 24, seed=1)
    x_test, y_test = amplitude_task(128, 24, seed=2)
    linear = linear_mse(x, y, x_test, y_test)
    assert 0.5 < linear < 1.0  # near its expectation 0.711 (the task is what its docstring says)
    net = build_backbone(config(name), 4, 1, 24)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for step in range(300):
        idx = torch.randint(0, 256, (32,), generator=torch.Generator().manual_seed(step))
        loss = torch.nn.functional.mse_loss(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    net.eval()
    with torch.no_grad():
        mse = float(torch.nn.functional.mse_loss(net(x_test), y_test))
    first, last = sum(losses[:20]) / 20, sum(losses[-20:]) / 20
    assert last < 0.5 * first, f"{name}: training loss {first:.3f} -> {last:.3f}"
    # Margin: half the linear model's error on the same held-out sequences, i.e. the backbone must recover at
    # least half of the part of y that is nonlinear in the drivers.
    assert mse < 0.5 * linear, f"{name}: held-out MSE {mse:.3f}, linear {linear:.3f}"
