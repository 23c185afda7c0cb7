"""IDE model: shapes, independent per-variable encoders, binary codes, T-following classifier, swin windows."""

import terraflux  # noqa: F401
from terraflux.errors import ConfigError
from terraflux.ide.codebooks import CODEBOOKS
from terraflux.ide.model import IDEModel, WindowAttention3d, count_parameters, temporal_steps

import pytest
import torch

from support.ide_config import REFERENCE_MODEL, model_config

torch.set_num_threads(1)


@pytest.mark.parametrize("backbone", ["cnn3d", "swin3d", "mamba"])
@pytest.mark.parametrize("size", [(8, 8, 8), (5, 6, 7)])
def test_shapes_and_binary_drivers(backbone, size):
    torch.manual_seed(0)
    cfg = model_config(3, channels=2, backbone=backbone, hidden=8, features=8, classifier_hidden=4)
    model = IDEModel(cfg, size)
    t, h, w = size
    x = torch.randn(2, 3, 2, t, h, w)
    out = model(x, torch.ones(2, h, w, dtype=torch.bool))
    assert out["logits"].shape == (2, h, w)
    assert out["variable_logits"].shape == (2, 3, h, w)
    assert out["drivers"].shape == out["z"].shape == (2, 3, t, h, w)
    assert torch.equal(out["drivers"], out["z"] > 0)
    loss = out["logits"].sum() + out["codebook_loss"]
    loss.backward()
    # straight-through: the encoder's first layer gets a gradient through the binary code
    first = next(model.encoder.parameters())
    assert first.grad is not None and first.grad.abs().sum() > 0


def test_temporal_reduction_follows_t():
    assert [temporal_steps(t) for t in (1, 2, 3, 4, 5, 8, 9, 16)] == [0, 1, 2, 2, 3, 3, 4, 4]
    cfg = model_config(2, hidden=4, features=4, classifier_hidden=4)
    strided = lambda m: sum(1 for c in m.modules() if isinstance(c, torch.nn.Conv3d) and c.stride == (2, 1, 1))  # noqa: E731
    assert strided(IDEModel(cfg, (8, 4, 4)).joint_head) == 3
    assert strided(IDEModel(cfg, (12, 4, 4)).joint_head) == 4


@pytest.mark.parametrize("backbone", ["cnn3d", "swin3d", "mamba"])
def test_encoders_share_nothing_across_variables(backbone):
    torch.manual_seed(1)
    cfg = model_config(3, backbone=backbone, hidden=8, features=8, classifier_hidden=4)
    model = IDEModel(cfg, (4, 8, 8)).eval()
    x = torch.randn(1, 3, 1, 4, 8, 8)
    y = x.clone()
    y[:, 0] += 5 * torch.randn_like(y[:, 0])
    with torch.no_grad():
        a, b = model(x), model(y)
    assert not torch.allclose(a["z"][:, 0], b["z"][:, 0])
    torch.testing.assert_close(a["z"][:, 1:], b["z"][:, 1:])


def test_shifted_window_attention_matches_brute_force():
    """Cyclic shift + mask = attention restricted to tokens of the same (unrolled) shifted window."""
    torch.manual_seed(2)
    window, shift, size, dim = (2, 2, 2), (1, 1, 1), (4, 4, 4), 4
    attn = WindowAttention3d(1, dim, 1, window)
    with torch.no_grad():
        attn.bias_table.zero_()
    x = torch.randn(1, 1, *size, dim)
    out = attn(x, shift)[0, 0].reshape(-1, dim)
    # brute force: token i attends to token j iff both fall into the same window of the shifted grid
    # and come from the same side of the wrap-around in every dimension
    coords = torch.stack(torch.meshgrid(*[torch.arange(s) for s in size], indexing="ij"), -1).reshape(-1, 3)
    rolled = (coords - torch.tensor(shift)) % torch.tensor(size)  # position after torch.roll(-shift)
    win = rolled // torch.tensor(window)
    wrapped = coords < torch.tensor(shift)  # tokens that wrapped around to the far end
    same = (win[:, None] == win[None]).all(-1) & (wrapped[:, None] == wrapped[None]).all(-1)
    tokens = x[0, 0].reshape(-1, dim)
    qkv = torch.einsum("ni,io->no", tokens, attn.qkv.weight[0]) + attn.qkv.bias[0]
    q, k, v = qkv.chunk(3, dim=-1)
    scores = (q * dim**-0.5) @ k.T
    scores = scores.masked_fill(~same, float("-inf"))
    expected = torch.einsum("ni,io->no", scores.softmax(-1) @ v, attn.proj.weight[0]) + attn.proj.bias[0]
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)


def test_reference_sizes():
    cnn = IDEModel(model_config(6, **REFERENCE_MODEL), (8, 16, 16))
    swin = IDEModel(model_config(6, backbone="swin3d", **REFERENCE_MODEL), (8, 16, 16))
    assert 2e5 < count_parameters(swin) < count_parameters(cnn) < 1e6


def test_unknown_backbone_is_a_config_error():
    with pytest.raises(ConfigError, match="cnn3d, swin3d, mamba"):
        model_config(2, backbone="resnet")


@pytest.mark.parametrize("backbone", ["cnn3d", "swin3d", "mamba"])
def test_codes_start_normal(backbone):
    """With a symmetric quantiser init about half the codes start as "driver", and the heavily weighted driver
    loss swamps the extremes' BCE in the first steps, collapsing the driver masks to "normal". Every code
    starts "normal" and the driver loss at 0."""
    from terraflux.ide.losses import driver_loss

    torch.manual_seed(3)
    cfg = model_config(6, backbone=backbone, **{**REFERENCE_MODEL, "code_init_bias": -1.0})
    model = IDEModel(cfg, (8, 16, 16)).train()
    x = 3 * torch.randn(2, 6, 1, 8, 16, 16)
    out = model(x, torch.ones(2, 16, 16, dtype=torch.bool))
    assert out["drivers"].float().mean() < 0.01
    assert float(driver_loss(out["driver_score"], torch.ones(2, 16, 16, dtype=torch.bool))) < 0.01


@pytest.mark.parametrize("backbone", ["cnn3d", "swin3d", "mamba"])
def test_one_week_encoders_give_a_week_the_same_code_in_every_window(backbone):
    """The reference's 3 x 3 x 3 encoders (receptive field wider than T, zero-padded at the window's edges)
    know where in the window a week lies, so a week's code depends on the window holding it and the majority
    vote over the windows covering a week can lose its drivers. ``encoder_time_kernel = 1`` (and one-week
    swin windows) make a week's code independent of the window."""
    torch.manual_seed(4)
    series = 3 * torch.randn(1, 3, 1, 12, 8, 8)

    def codes(**kw):
        cfg = model_config(3, backbone=backbone, **{**REFERENCE_MODEL, "hidden": 8, "features": 8, **kw})
        model = IDEModel(cfg, (8, 8, 8)).eval()
        with torch.no_grad():
            # weeks 0..7 and 4..11 of the (newest-first) series: weeks 4..7 lie in both windows
            return model(series[:, :, :, 0:8])["z"][:, :, 4:], model(series[:, :, :, 4:12])["z"][:, :, :4]

    one_week = {"encoder_time_kernel": 1, "swin_windows": ((1, 4, 4), (1, 8, 8))}
    torch.testing.assert_close(*codes(**one_week))
    assert not torch.allclose(*codes())  # the reference: the code depends on the position


def test_past_context_gives_a_week_the_same_code_in_every_window():
    """``encoder_context: past``: the encoders read the real weeks before the window instead of zeros, so
    a week's code is the same whichever window holds it (cnn3d: exactly), with the reference's temporal
    kernel and learning from temporal context."""
    torch.manual_seed(5)
    cfg = model_config(3, hidden=8, features=8, cnn_blocks=2, encoder_context="past", encoder_time_kernel=2)
    model = IDEModel(cfg, (8, 8, 8)).eval()
    assert model.context == 7  # stem + 2 x 2 block convolutions + 2 feature convolutions, 1 week each
    series = 3 * torch.randn(1, 3, 1, 8 + model.context + 4, 8, 8)  # newest first
    with torch.no_grad():
        newest = model(series[:, :, :, : 8 + model.context])
        older = model(series[:, :, :, 4 : 12 + model.context])
    assert newest["z"].shape == (1, 3, 8, 8, 8)  # codes for the window's 8 weeks only
    torch.testing.assert_close(newest["z"][:, :, 4:], older["z"][:, :, :4])  # weeks in both windows
    with pytest.raises(ValueError, match="7 weeks of context"):
        model(series[:, :, :, :7])


def test_past_context_swin3d_builds_and_reads_the_context():
    cfg = model_config(2, hidden=8, features=8, backbone="swin3d", encoder_context="past", encoder_time_kernel=2)
    model = IDEModel(cfg, (8, 8, 8)).eval()
    assert model.context == 3
    with torch.no_grad():
        out = model(torch.randn(2, 2, 1, 8 + model.context, 8, 8))
    assert out["drivers"].shape == (2, 2, 8, 8, 8) and out["logits"].shape == (2, 8, 8)


def test_encoder_time_kernel_and_context_are_checked():
    with pytest.raises(ConfigError, match="encoder_time_kernel"):
        model_config(2, encoder_time_kernel=2, encoder_context="padded")  # even kernels cannot be centred
    with pytest.raises(ConfigError, match="encoder_context"):
        model_config(2, encoder_context="future")


@pytest.mark.parametrize("codebook", CODEBOOKS)
def test_every_codebook_gives_a_binary_mask_and_passes_gradients_to_the_encoder(codebook):
    """The driver mask is the code's index (1 = driver), so binary; z > 0 exactly there; the driver score
    equals the mask; the straight-through code passes the classifier's and the driver loss's gradients back
    to the encoder's first layer. Codes start on the decision boundary (code_init_bias 0) so both occur."""
    from terraflux.ide.losses import driver_loss

    torch.manual_seed(4)
    cfg = model_config(3, codebook=codebook, hidden=8, features=8, classifier_hidden=4, code_init_bias=0.0)
    model = IDEModel(cfg, (4, 8, 8)).train()
    x = torch.randn(2, 3, 1, 4, 8, 8)
    out = model(x, torch.ones(2, 8, 8, dtype=torch.bool))
    drivers = out["drivers"]
    assert drivers.dtype == torch.bool and drivers.shape == (2, 3, 4, 8, 8)
    assert 0 < drivers.float().mean() < 1
    assert torch.equal(drivers, out["z"] > 0)
    assert torch.equal(out["driver_score"].detach(), drivers.float())
    loss = out["logits"].sum() + driver_loss(out["driver_score"], torch.ones(2, 8, 8, dtype=torch.bool))
    (loss + out["codebook_loss"]).backward()
    first = next(model.encoder.parameters())
    assert first.grad is not None and first.grad.abs().sum() > 0
    with torch.no_grad():
        evaluated = model.eval()(x)["drivers"]
    if codebook != "vq":  # vq's entries moved by their moving averages in the training pass
        assert torch.equal(evaluated, drivers)


@pytest.mark.parametrize("codebook", CODEBOOKS)
def test_every_codebook_starts_normal(codebook):
    torch.manual_seed(5)
    model = IDEModel(model_config(3, codebook=codebook, hidden=8, features=8, classifier_hidden=4), (4, 8, 8))
    out = model.eval()(3 * torch.randn(2, 3, 1, 4, 8, 8))
    assert out["drivers"].float().mean() < 0.01


@pytest.mark.parametrize("codebook", CODEBOOKS)
def test_driver_score_has_no_gradient_at_normal_codes(codebook):
    """Only driver codes are pulled by the driver loss: at a normal code the score is 0 with gradient 0 (the
    code of a voxel depends on that voxel's features only)."""
    torch.manual_seed(6)
    cfg = model_config(2, codebook=codebook, hidden=4, features=4, classifier_hidden=4, code_init_bias=0.0)
    model = IDEModel(cfg, (2, 4, 4))
    feats = torch.randn(1, 2 * 4, 2, 4, 4, requires_grad=True)
    _, _, score, drivers, _ = model.quantizer(feats)
    (grad,) = torch.autograd.grad(score.sum(), feats)
    per_voxel = grad.reshape(1, 2, 4, 2, 4, 4).abs().sum(2)  # [N, V, T, H, W]
    assert drivers.any() and (~drivers).any()
    assert per_voxel[~drivers].sum() == 0
    if codebook != "fsq":  # fsq's straight-through gradient passes tanh, which may round to 0 far out
        assert (per_voxel[drivers] > 0).all()


def _mamba(use_cuda_kernels: bool, pscan: bool = True):
    from terraflux.ide.mamba import WindowMamba3d

    torch.manual_seed(7)
    mixer = WindowMamba3d(2, 8, (2, 4, 4), state=4, expand=2, conv=3, use_cuda_kernels=use_cuda_kernels)
    for block in mixer.mixers:
        block.config.pscan = pscan
    return mixer


def _scan_tolerance(y: torch.Tensor, length: int) -> float:
    """Two float32 evaluations of one recurrence of ``length`` contracting steps (|exp(delta A)| <= 1) that
    differ in summation order: each step adds at most a few roundings of eps * max|y|; a factor 8 covers the
    products and sums of one step."""
    return 8 * length * torch.finfo(torch.float32).eps * float(y.abs().max())


def test_mamba_parallel_scan_equals_the_sequential_recurrence():
    """The pure-PyTorch parallel scan (mambapy's, used on CPU and where mamba-ssm is absent) against the plain
    step-by-step recurrence, inside shifted windows of 2 x 4 x 4 tokens."""
    x = torch.randn(2, 2, 4, 8, 8, 8)
    parallel, sequential = _mamba(False, pscan=True), _mamba(False, pscan=False)
    sequential.load_state_dict(parallel.state_dict())
    with torch.no_grad():
        a, b = parallel(x, (1, 2, 2)), sequential(x, (1, 2, 2))
    assert a.shape == x.shape
    torch.testing.assert_close(a, b, rtol=0, atol=_scan_tolerance(b, 2 * 4 * 4))


@pytest.mark.gpu
def test_mamba_cuda_kernels_agree_with_the_pure_pytorch_scan():
    """mamba-ssm's fused selective-scan kernel and the pure-PyTorch scan, same weights, on the GPU."""
    from terraflux.ide.mamba import cuda_kernels_installed

    if not cuda_kernels_installed():
        pytest.skip("mamba-ssm is not installed")
    x = torch.randn(2, 2, 4, 8, 8, 8, device="cuda")
    kernel, pure = _mamba(True).cuda(), _mamba(False).cuda()
    pure.load_state_dict(kernel.state_dict())
    with torch.no_grad():
        a, b = kernel(x, (1, 2, 2)), pure(x, (1, 2, 2))
    torch.testing.assert_close(a, b, rtol=0, atol=_scan_tolerance(b, 2 * 4 * 4))


def test_mamba_trains_on_cpu_without_mamba_ssm():
    """The mamba backbone at a tiny size: a gradient step on CPU through the pure-PyTorch scan."""
    torch.manual_seed(8)
    cfg = model_config(2, backbone="mamba", hidden=4, features=4, classifier_hidden=4, swin_heads=[1, 1])
    model = IDEModel(cfg, (4, 8, 8))
    assert not any(m.kernels for m in model.modules() if hasattr(m, "kernels"))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, valid = torch.randn(2, 2, 1, 4, 8, 8), torch.ones(2, 8, 8, dtype=torch.bool)
    before = [p.detach().clone() for p in model.encoder.parameters()]
    out = model(x, valid)
    (out["logits"].sum() + out["codebook_loss"]).backward()
    opt.step()
    assert any(not torch.equal(p, q) for p, q in zip(before, model.encoder.parameters(), strict=True))
