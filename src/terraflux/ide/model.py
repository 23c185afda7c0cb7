"""The IDE model: independent per-variable encoders, a binary quantiser, an extremes classifier.

The model of Shams Eddin & Gall, "Identifying spatio-temporal drivers of extreme events" (NeurIPS 2024):
encoders cnn3d, swin3d (Video Swin Transformer, Liu et al., CVPR 2022) or mamba (the Swin layout with window
selective scans, Gu & Dao, 2023: :mod:`terraflux.ide.mamba`); a two-entry codebook per voxel and variable
(:mod:`terraflux.ide.codebooks`; the default, lookup-free quantisation, is Yu et al., ICLR 2024). The
reference's settings and where the demo's differ are listed in config ``ide.model``
(workflow/schemas/ide.schema.yaml).

Shapes (N batch, V variables, C channels per variable, T weeks newest first, H x W pixels):

- input ``x``: [N, V, C, T + context, H, W], normalised anomalies (C = 1 on the benchmark, 2 = weekly mean
  and std on reanalyses; ``context`` = 0 unless ``encoder_context`` is 'past');
- encoder features: [N, V * F, T, H, W] with F = ``features``, no spatial or temporal downsampling;
- quantiser: per variable F -> D projection, code = an entry of the codebook (straight-through), D -> F;
  driver mask = code index 1, [N, V, T, H, W] (D = 1; ``random_vq``: F);
- classifier, from the quantised features only: a joint head over all variables and one head per
  variable, each reducing T to 1 with stride-2 temporal convolutions (as many as T needs), logits [N, H, W]
  and [N, V, H, W].

Position in the window (``encoder_context``): with the reference's zero-padded 3 x 3 x 3 encoder
convolutions ('padded') the receptive field is wider than T and reaches past the window's edges, so the
encoders can tell where in the window a week lies, and can learn to flag a driver only at the positions the
classifier reads; a week's drivers then depend on the window, and the majority vote over the T windows
covering a week loses them. With 'past' the encoders' convolutions are unpadded in time and the model reads
:func:`context_weeks` real weeks before the window: a week's code depends on that week and the weeks before
it only, the same in every window (cnn3d exactly; swin3d's attention windows still partition the weeks).
An encoder that sees a week's past can still learn to flag only the later weeks of an anomaly, which tells
the classifier when an extreme starts. ``encoder_time_kernel`` 1 computes a week's code from that week alone
(3 x 3 pixels per convolution): the code flags the anomaly itself, in every week of it, and the classifier's
temporal convolutions learn the lags.

The V encoders share no weights. They run as one grouped network (grouped convolutions, per-variable
linear layers), which is the same computation as V separate networks, in one kernel call per layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from terraflux.errors import ConfigError
from terraflux.ide.codebooks import CODEBOOKS, make_codebook
from terraflux.ide.mamba import WindowMamba3d

import torch
import torch.nn.functional as F
from torch import nn

BACKBONES = ("cnn3d", "swin3d", "mamba")
ENCODER_CONTEXTS = ("padded", "past")


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of :class:`IDEModel`: config ``ide.model`` (:meth:`from_dict`), the number of
    variables and channels per variable of the dataset, and the backbone."""

    variables: int
    channels: int
    backbone: str
    hidden: int
    features: int
    cnn_blocks: int
    swin_depths: tuple[int, ...]
    swin_heads: tuple[int, ...]
    swin_windows: tuple[tuple[int, int, int], ...]
    swin_mlp_ratio: float
    mamba_state: int
    mamba_expand: int
    mamba_conv: int
    classifier_hidden: int
    codebook: str
    commitment_weight: float
    lfq_commitment_weight: float
    lfq_entropy_weight: float
    lfq_diversity_gamma: float
    code_init_bias: float
    encoder_time_kernel: int
    encoder_context: str

    @classmethod
    def from_dict(cls, params: dict, *, variables: int, channels: int, backbone: str, codebook: str) -> ModelConfig:
        """From config ``ide.model`` (or a checkpoint's ``model_config``; lists become tuples), with the run's
        backbone and codebook (one of ``ide.backbones`` and of ``ide.codebooks``)."""
        values = {k: v for k, v in params.items() if k not in ("variables", "channels", "backbone", "codebook")}
        for key, value in values.items():
            if isinstance(value, list):
                values[key] = tuple(tuple(x) if isinstance(x, list) else x for x in value)
        return cls(variables=variables, channels=channels, backbone=backbone, codebook=codebook, **values)

    def __post_init__(self) -> None:
        if self.encoder_context not in ENCODER_CONTEXTS:
            raise ConfigError(
                f"ide.model.encoder_context must be one of {', '.join(ENCODER_CONTEXTS)}, got {self.encoder_context!r}"
            )
        if self.encoder_time_kernel < 1 or (self.encoder_context == "padded" and self.encoder_time_kernel % 2 == 0):
            raise ConfigError(
                "ide.model.encoder_time_kernel must be >= 1 (and odd with encoder_context 'padded'), "
                f"got {self.encoder_time_kernel}"
            )
        if self.codebook not in CODEBOOKS:
            raise ConfigError(f"ide codebook {self.codebook!r} is not known: choose one of {', '.join(CODEBOOKS)}")
        if self.backbone not in BACKBONES:
            raise ConfigError(f"ide backbone {self.backbone!r} is not known: choose one of {', '.join(BACKBONES)}")
        if not (len(self.swin_depths) == len(self.swin_heads) == len(self.swin_windows)):
            raise ConfigError("ide.model.swin_depths, swin_heads and swin_windows must have the same length")
        for heads in self.swin_heads:
            if self.hidden % heads:
                raise ConfigError(
                    f"ide.model.hidden ({self.hidden}) must be divisible by every swin head count ({heads})"
                )


# ----------------------------------------------------------------------------------------------- grouped layers


class GroupedLayerNorm(nn.Module):
    """Layer norm over the C channels of each variable of [N, V*C, T, H, W]; affine per variable."""

    def __init__(self, groups: int, channels: int):
        super().__init__()
        self.groups, self.channels = groups, channels
        self.weight = nn.Parameter(torch.ones(groups, channels))
        self.bias = nn.Parameter(torch.zeros(groups, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, t, h, w = x.shape
        y = x.permute(0, 2, 3, 4, 1).reshape(n, t, h, w, self.groups, self.channels)
        y = F.layer_norm(y, (self.channels,)) * self.weight + self.bias
        return y.reshape(n, t, h, w, -1).permute(0, 4, 1, 2, 3)


def grouped_conv(groups: int, cin: int, cout: int, kernel=3, stride=1, pad_time: bool = True) -> nn.Conv3d:
    """V independent Conv3d (cin -> cout each) as one grouped convolution with 'same' padding.

    ``kernel``: an int (cubic) or (time, y, x). ``pad_time`` False: no padding in time, T -> T - k_t + 1,
    output week i computed from input weeks i .. i + k_t - 1 (newest first: week i and the k_t - 1 before it).
    """
    kernel = (kernel,) * 3 if isinstance(kernel, int) else tuple(kernel)
    padding = (kernel[0] // 2 if pad_time else 0, kernel[1] // 2, kernel[2] // 2)
    return nn.Conv3d(groups * cin, groups * cout, kernel, stride=stride, padding=padding, groups=groups)


def encoder_conv(cfg: ModelConfig, groups: int, cin: int, cout: int) -> nn.Conv3d:
    """A convolution of the encoders: ``encoder_time_kernel`` x 3 x 3, padded in time only with
    ``encoder_context`` 'padded' (with 'past' it reads ``encoder_time_kernel - 1`` earlier real weeks)."""
    return grouped_conv(groups, cin, cout, encoder_kernel(cfg), pad_time=cfg.encoder_context == "padded")


class VariableLinear(nn.Module):
    """A linear layer with its own weights per variable, on [..., V, ..., in] -> [..., out].

    ``dim`` is the position of the variable axis. Initialised like ``nn.Linear``.
    """

    def __init__(self, groups: int, cin: int, cout: int, dim: int = 1):
        super().__init__()
        self.dim = dim
        bound = 1 / math.sqrt(cin)
        self.weight = nn.Parameter(torch.empty(groups, cin, cout).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(groups, cout).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.movedim(self.dim, -2)  # [..., V, in]
        y = torch.einsum("...vi,vio->...vo", x, self.weight) + self.bias
        return y.movedim(-2, self.dim)


# ---------------------------------------------------------------------------------------------------- encoders


class ResidualBlock3d(nn.Module):
    """(conv -> layer norm -> ReLU) x 2 with a skip connection, per variable (convolutions from
    :func:`encoder_conv`; where they do not pad in time, the skip keeps the newest weeks of the input)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        groups, channels = cfg.variables, cfg.hidden
        self.body = nn.Sequential(
            encoder_conv(cfg, groups, channels, channels),
            GroupedLayerNorm(groups, channels),
            nn.ReLU(),
            encoder_conv(cfg, groups, channels, channels),
            GroupedLayerNorm(groups, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return F.relu(x[:, :, : y.shape[2]] + y)


class CNN3dEncoder(nn.Module):
    """Stem conv, ``cnn_blocks`` residual blocks; [N, V*C, T, H, W] -> [N, V*hidden, T', H, W]
    (T' = T, or T - ``temporal_convs`` x (k_t - 1) without time padding)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        v, h = cfg.variables, cfg.hidden
        self.temporal_convs = 1 + 2 * cfg.cnn_blocks
        self.stem = nn.Sequential(encoder_conv(cfg, v, cfg.channels, h), GroupedLayerNorm(v, h), nn.ReLU())
        self.blocks = nn.Sequential(*[ResidualBlock3d(cfg) for _ in range(cfg.cnn_blocks)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))


def encoder_kernel(cfg: ModelConfig) -> tuple[int, int, int]:
    """Kernel (time, y, x) of the encoders' convolutions: ``encoder_time_kernel`` x 3 x 3."""
    return (cfg.encoder_time_kernel, 3, 3)


def _fit_window(window: tuple[int, int, int], size: tuple[int, int, int]) -> tuple[int, ...]:
    return tuple(min(w, s) for w, s in zip(window, size, strict=True))


class WindowAttention3d(nn.Module):
    """Multi-head self-attention inside 3-D windows, with a learned relative position bias, per variable.

    Input [N, V, T, H, W, D] (channel last); T, H, W must be multiples of the window (the caller pads).
    """

    def __init__(self, groups: int, dim: int, heads: int, window: tuple[int, int, int]):
        super().__init__()
        self.heads, self.window = heads, tuple(window)
        self.scale = (dim // heads) ** -0.5
        self.qkv = VariableLinear(groups, dim, 3 * dim)
        self.proj = VariableLinear(groups, dim, dim)
        wt, wh, ww = self.window
        self.bias_table = nn.Parameter(torch.zeros(groups, heads, (2 * wt - 1) * (2 * wh - 1) * (2 * ww - 1)))
        nn.init.trunc_normal_(self.bias_table, std=0.02)
        coords = torch.stack(
            torch.meshgrid(torch.arange(wt), torch.arange(wh), torch.arange(ww), indexing="ij")
        ).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)  # [L, L, 3]
        rel += torch.tensor([wt - 1, wh - 1, ww - 1])
        index = (rel[..., 0] * (2 * wh - 1) + rel[..., 1]) * (2 * ww - 1) + rel[..., 2]
        self.register_buffer("bias_index", index, persistent=False)

    def forward(self, x: torch.Tensor, shift: tuple[int, int, int]) -> torch.Tensor:
        n, v, t, h, w, d = x.shape
        wt, wh, ww = self.window
        if any(shift):
            x = torch.roll(x, shifts=tuple(-s for s in shift), dims=(2, 3, 4))
        # [N, V, nT, wt, nH, wh, nW, ww, D] -> [N, V, windows, L, D]
        xw = x.reshape(n, v, t // wt, wt, h // wh, wh, w // ww, ww, d)
        xw = xw.permute(0, 1, 2, 4, 6, 3, 5, 7, 8).reshape(n, v, -1, wt * wh * ww, d)
        length = wt * wh * ww
        qkv = self.qkv(xw).reshape(n, v, -1, length, 3, self.heads, d // self.heads)
        q, k, val = qkv.permute(4, 0, 1, 2, 5, 3, 6)  # each [N, V, windows, heads, L, d_head]
        attn = (q * self.scale) @ k.transpose(-1, -2)
        bias = self.bias_table[:, :, self.bias_index]  # [V, heads, L, L]
        attn = attn + bias[None, :, None]
        if any(shift):
            attn = attn + self._shift_mask((t, h, w), shift, x.device)[None, None, :, None]
        out = (attn.softmax(-1) @ val).transpose(-2, -3).reshape(n, v, -1, length, d)
        out = self.proj(out)
        out = out.reshape(n, v, t // wt, h // wh, w // ww, wt, wh, ww, d).permute(0, 1, 2, 5, 3, 6, 4, 7, 8)
        out = out.reshape(n, v, t, h, w, d)
        if any(shift):
            out = torch.roll(out, shifts=shift, dims=(2, 3, 4))
        return out

    def _shift_mask(self, size, shift, device) -> torch.Tensor:
        """-inf between tokens that the cyclic shift brought into one window from different regions."""
        region = torch.zeros(size, device=device)
        label = 0
        slices = [
            ((slice(0, -win), slice(-win, -s), slice(-s, None)) if s else (slice(None),))
            for win, s in zip(self.window, shift, strict=True)
        ]
        for st in slices[0]:
            for sh in slices[1]:
                for sw in slices[2]:
                    region[st, sh, sw] = label
                    label += 1
        wt, wh, ww = self.window
        t, h, w = size
        r = region.reshape(t // wt, wt, h // wh, wh, w // ww, ww).permute(0, 2, 4, 1, 3, 5).reshape(-1, wt * wh * ww)
        different = r[:, :, None] != r[:, None, :]
        return torch.zeros(different.shape, device=device).masked_fill(different, float("-inf"))


class SwinBlock3d(nn.Module):
    """Pre-norm (shifted) window mixing and MLP, each with a residual connection, per variable. The mixer is
    multi-head attention, or with ``mamba`` (keyword arguments of :class:`~terraflux.ide.mamba.WindowMamba3d`)
    a selective scan over each window's tokens."""

    def __init__(
        self, groups: int, dim: int, heads: int, window, shifted: bool, mlp_ratio: float, mamba: dict | None = None
    ):
        super().__init__()
        self.window, self.shifted = tuple(window), shifted
        self.norm1 = nn.LayerNorm(dim)
        if mamba is None:
            self.attn: nn.Module = WindowAttention3d(groups, dim, heads, self.window)
        else:
            self.attn = WindowMamba3d(groups, dim, self.window, **mamba)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(VariableLinear(groups, dim, hidden), nn.GELU(), VariableLinear(groups, hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [N, V, T, H, W, D]; windows larger than the input shrink to it, odd sizes are padded."""
        size = tuple(x.shape[2:5])
        window = _fit_window(self.window, size)
        if window != self.attn.window:
            raise ValueError(f"swin window {self.attn.window} does not fit the input {size}")
        shift = tuple(w // 2 if (self.shifted and w < s) else 0 for w, s in zip(window, size, strict=True))
        pad = [(-s) % w for s, w in zip(size, window, strict=True)]
        y = self.norm1(x)
        if any(pad):
            y = F.pad(y, (0, 0, 0, pad[2], 0, pad[1], 0, pad[0]))
        y = self.attn(y, shift)[:, :, : size[0], : size[1], : size[2]]
        x = x + y
        return x + self.mlp(self.norm2(x))


class Swin3dEncoder(nn.Module):
    """Video-Swin-style encoder without downsampling: stages of (shifted) 3-D window attention, or for the
    ``mamba`` backbone (as the reference's Mamba encoder) of (shifted) 3-D window selective scans.

    Windows are (T, H, W) extents per stage (e.g. (2, 4, 4) then (8, 1, 1)); a window larger than the input
    is shrunk to the input (so T and crop sizes are free). The window sizes are fixed when the model is
    built for a given input size; :meth:`IDEModel.forward` checks.
    """

    def __init__(self, cfg: ModelConfig, size: tuple[int, int, int]):
        super().__init__()
        v, d = cfg.variables, cfg.hidden
        self.groups, self.dim = v, d
        self.temporal_convs = 1
        self.embed = encoder_conv(cfg, v, cfg.channels, d)
        mamba = None
        if cfg.backbone == "mamba":
            mamba = {"state": cfg.mamba_state, "expand": cfg.mamba_expand, "conv": cfg.mamba_conv}
        blocks = []
        for depth, heads, window in zip(cfg.swin_depths, cfg.swin_heads, cfg.swin_windows, strict=True):
            fitted = _fit_window(tuple(window), size)
            for i in range(depth):
                shifted = i % 2 == 1
                blocks.append(SwinBlock3d(v, d, heads, fitted, shifted, cfg.swin_mlp_ratio, mamba))
        self.blocks = nn.ModuleList(blocks)
        self.norm = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.embed(x)  # [N, V*D, T, H, W]
        n, _, t, h, w = e.shape
        y = e.permute(0, 2, 3, 4, 1).reshape(n, t, h, w, self.groups, self.dim).permute(0, 4, 1, 2, 3, 5)
        for block in self.blocks:
            y = block(y)
        y = self.norm(y)  # [N, V, T, H, W, D]
        return y.permute(0, 1, 5, 2, 3, 4).reshape(n, self.groups * self.dim, t, h, w)


# -------------------------------------------------------------------------------------- quantiser and classifier


class BinaryQuantizer(nn.Module):
    """Per-variable projection F -> D, a two-entry codebook (``ide.model.codebook``), projection D -> F.

    The codebook (:mod:`terraflux.ide.codebooks`, shared by the variables) gives each voxel's code and its
    index: 1 = driver. The projections are per variable. Besides the quantised features it returns ``z``,
    the squared distance of the code input to "normal" minus that to "driver" (> 0 where the code is
    "driver", up to ties), and the driver score ||code - normal||_1 / ||driver - normal||_1: 0 or 1 in
    value, with the codebook's straight-through gradient, which the driver loss reads.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        v, f = cfg.variables, cfg.features
        self.groups, self.features = v, f
        self.codebook = make_codebook(
            cfg.codebook,
            features=f,
            commitment_weight=cfg.commitment_weight,
            lfq_commitment_weight=cfg.lfq_commitment_weight,
            lfq_entropy_weight=cfg.lfq_entropy_weight,
            lfq_diversity_gamma=cfg.lfq_diversity_gamma,
        )
        d = self.codebook.dim
        self.project_in = VariableLinear(v, f, d, dim=1)
        # ``code_init_bias`` -1 starts every code "normal": from a symmetric start (0) about half the codes
        # start as "driver", the heavily weighted driver loss dominates the first steps and teaches the encoders
        # that anomalies are normal. From "normal" only the extremes' BCE, through the straight-through code,
        # turns anomalies into drivers.
        with torch.no_grad():
            self.project_in.bias.copy_(self.codebook.start_bias(cfg.code_init_bias).expand(v, d))
        self.project_out = VariableLinear(v, d, f, dim=1)

    def forward(self, feats: torch.Tensor, valid: torch.Tensor | None = None):
        """feats [N, V*F, T, H, W], valid [N, H, W] bool or None.

        Returns (quantised [N, V*F, T, H, W], z and driver score [N, V, T, H, W], drivers [N, V, T, H, W]
        bool (code index 1), codebook loss scalar).
        """
        n, _, t, h, w = feats.shape
        x = feats.reshape(n, self.groups, self.features, t, h, w).permute(0, 1, 3, 4, 5, 2)  # [N, V, T, H, W, F]
        y = self.project_in(x)  # [N, V, T, H, W, D]
        d = y.shape[-1]
        seq = y.reshape(n * self.groups, t * h * w, d)
        mask = None
        if valid is not None and self.training:
            mask = valid[:, None, None].expand(n, self.groups, t, h, w).reshape(n * self.groups, t * h * w)
        e = self.codebook.entries()  # before quantising: a learned codebook may update its entries there
        q, index, loss = self.codebook.quantize(seq, mask)
        # exactly the index in value; at driver codes the gradient of ||q - normal||_1 (as |code + 1| / 2 for
        # LFQ), none at normal codes, where q equals "normal" only up to the rounding of the straight-through sum
        driver = index.to(q.dtype)
        distance = (q - e[0]).abs().sum(-1) / (e[1] - e[0]).abs().sum()
        score = driver + driver * (distance - distance.detach())
        code_input = self.codebook.to_code_space(seq)
        z = ((code_input - e[0]) ** 2).sum(-1) - ((code_input - e[1]) ** 2).sum(-1)
        feats_q = self.project_out(q.reshape(n, self.groups, t, h, w, q.shape[-1]))  # [N, V, T, H, W, F]
        quantised = feats_q.permute(0, 1, 5, 2, 3, 4).reshape(n, self.groups * self.features, t, h, w)
        shape = (n, self.groups, t, h, w)
        return quantised, z.reshape(shape), score.reshape(shape), index.reshape(shape) == 1, loss


def temporal_steps(weeks: int) -> int:
    """Stride-2 temporal convolutions that take T weeks down to 1 (ceil(log2 T)); 3 for T = 8."""
    return max(0, math.ceil(math.log2(weeks))) if weeks > 1 else 0


class TemporalHead(nn.Module):
    """``groups`` independent heads: [N, G*cin, T, H, W] -> logits [N, G, H, W].

    ceil(log2 T) convolutions (3x3x3, temporal stride 2) bring T to 1, then a 1x1x1 convolution.
    """

    def __init__(self, groups: int, cin: int, hidden: int, weeks: int):
        super().__init__()
        layers: list[nn.Module] = []
        channels = cin
        for _ in range(temporal_steps(weeks)):
            layers += [grouped_conv(groups, channels, hidden, kernel=3, stride=(2, 1, 1)), nn.ReLU()]
            channels = hidden
        layers.append(grouped_conv(groups, channels, 1, kernel=1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)  # [N, G, T', H, W]
        return y.mean(dim=2)


def context_weeks(cfg: ModelConfig) -> int:
    """Weeks before a window that the model reads with ``encoder_context`` 'past' (0 with 'padded'): each
    encoder convolution in time (cnn3d: stem, 2 per residual block; swin3d / mamba: the embedding; then the
    two feature convolutions) reaches ``encoder_time_kernel - 1`` weeks further back."""
    if cfg.encoder_context == "padded":
        return 0
    convs = (1 + 2 * cfg.cnn_blocks if cfg.backbone == "cnn3d" else 1) + 2
    return convs * (cfg.encoder_time_kernel - 1)


class IDEModel(nn.Module):
    """Encoders -> binary quantiser -> joint and per-variable extremes classifiers.

    ``size`` = (T, H, W) of the windows it classifies (the Swin windows are fitted to it; the classifier
    depth follows T). Its input holds T + :attr:`context` weeks, newest first: with ``encoder_context``
    'past' the encoders read the ``context`` real weeks before the window instead of zero padding, so the
    code of a week depends only on that week and the weeks before it, never on where the window lies
    (cnn3d: exactly; swin3d: its attention windows still partition the weeks).
    """

    def __init__(self, cfg: ModelConfig, size: tuple[int, int, int]):
        super().__init__()
        self.cfg, self.size = cfg, tuple(size)
        self.context = context_weeks(cfg)
        v = cfg.variables
        if cfg.backbone == "cnn3d":
            self.encoder: nn.Module = CNN3dEncoder(cfg)
        else:  # swin3d, mamba
            after_embed = self.size[0] + self.context - (self.context and cfg.encoder_time_kernel - 1)
            self.encoder = Swin3dEncoder(cfg, (after_embed, *self.size[1:]))
        self.to_features = nn.Sequential(
            encoder_conv(cfg, v, cfg.hidden, cfg.hidden), nn.ReLU(), encoder_conv(cfg, v, cfg.hidden, cfg.features)
        )
        self.quantizer = BinaryQuantizer(cfg)
        self.joint_head = TemporalHead(1, v * cfg.features, cfg.classifier_hidden, self.size[0])
        self.variable_heads = TemporalHead(v, cfg.features, cfg.classifier_hidden, self.size[0])

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """x [N, V, C, T + context, H, W]; valid [N, H, W] bool (pixels the quantiser statistics use) or None.

        Returns logits [N, H, W], variable_logits [N, V, H, W], z, driver_score (0 or 1, straight-through)
        and drivers (bool) [N, V, T, H, W], codebook_loss (scalar).
        """
        n, v, c, t, h, w = x.shape
        if (v, c) != (self.cfg.variables, self.cfg.channels):
            raise ValueError(
                f"model expects {self.cfg.variables} variables x {self.cfg.channels} channels, got {v} x {c}"
            )
        if t <= self.context:
            raise ValueError(f"model reads {self.context} weeks of context before each window: got only {t} weeks")
        x = x.reshape(n, v * c, t, h, w).contiguous(memory_format=torch.channels_last_3d)
        feats = self.to_features(self.encoder(x))  # [N, V*F, t - context, H, W]
        quantised, z, driver_score, drivers, codebook_loss = self.quantizer(feats, valid)
        quantised = quantised.contiguous(memory_format=torch.channels_last_3d)
        return {
            "logits": self.joint_head(quantised)[:, 0],
            "variable_logits": self.variable_heads(quantised),
            "z": z,
            "driver_score": driver_score,
            "drivers": drivers,
            "codebook_loss": codebook_loss,
        }


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
