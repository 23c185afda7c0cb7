"""Two-entry codebooks of the IDE quantiser: entry 0 is "normal", entry 1 is "driver".

The driver mask of a variable at a voxel is the index of its code (1 = driver), as in the reference
implementation of Shams Eddin & Gall (NeurIPS 2024, github.com/HakamShams/IDEE), whose codebooks are those of
``vector-quantize-pytorch``:

- ``lfq``: lookup-free quantisation (Yu et al., ICLR 2024, arXiv:2310.05737): code sign(y) in {-1, +1};
  commitment and entropy losses.
- ``fsq``: finite scalar quantisation (Mentzer et al., ICLR 2024, arXiv:2309.15505) with 2 levels, in the
  symmetry-preserving form (Zhao et al., arXiv:2411.19842) that 2 levels need: code 2 floor((tanh y + 1) / 2
  + 1/2) - 1 in {-1, +1}; no loss.
- ``vq``: vector quantisation (van den Oord et al., NeurIPS 2017, arXiv:1711.00937): nearest of 2 learned
  entries, updated by exponential moving averages, started at -1 and +1; commitment loss.
- ``latent_quantize``: latent quantisation (Hsu et al., NeurIPS 2023, arXiv:2305.18378): nearest of 2
  learned values, started at -1 and +1; commitment and quantisation losses.
- ``random_vq``: random-projection quantisation (Chiu et al., ICML 2022, arXiv:2202.01855): a fixed random
  projection of a ``features``-dimensional code, then the nearest of 2 fixed random entries; commitment loss.

Every codebook passes gradients straight through to its input. Shapes: input y [B, L, D] (D = :attr:`dim`:
1, or ``features`` for ``random_vq``), quantised [B, L, D], index [B, L] in {0, 1}, loss a scalar.
"""

from __future__ import annotations

import torch
from torch import nn
from vector_quantize_pytorch import FSQ, LFQ, LatentQuantize, VectorQuantize

CODEBOOKS = ("lfq", "fsq", "vq", "latent_quantize", "random_vq")


class Codebook(nn.Module):
    """A two-entry codebook over D-dimensional codes (subclasses: one per ``ide.model.codebook``)."""

    dim = 1

    def quantize(self, y: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """y [B, L, D], mask [B, L] bool (codes the losses count) or None -> (quantised [B, L, D] in the code
        space of :meth:`entries`, index [B, L] long, loss scalar)."""
        raise NotImplementedError

    def entries(self) -> torch.Tensor:
        """The code of "normal" and of "driver" [2, D] (detached), in the space of the quantised output."""
        raise NotImplementedError

    def to_code_space(self, y: torch.Tensor) -> torch.Tensor:
        """The input y [..., D] in the space of :meth:`entries` (identity unless the codebook projects)."""
        return y

    def start_bias(self, offset: float) -> torch.Tensor:
        """The input [D] whose code lies ``offset`` half-distances from the middle of the two entries towards
        "driver" (-1: on "normal"); the quantiser's input projection starts at this bias."""
        e = self.entries()
        target = (e[0] + e[1]) / 2 + offset * (e[1] - e[0]) / 2
        return target


class LFQCodebook(Codebook):
    def __init__(self, commitment: float, entropy: float, diversity_gamma: float):
        super().__init__()
        self.lfq = LFQ(
            dim=1,
            codebook_size=2,
            has_projections=False,
            commitment_loss_weight=commitment,
            entropy_loss_weight=entropy,
            diversity_gamma=diversity_gamma,
        )

    def quantize(self, y, mask):
        q, index, loss = self.lfq(y, mask=mask if self.training else None)
        return q, index.long(), loss

    def entries(self):
        return torch.tensor([[-1.0], [1.0]], device=self.lfq.codebook.device)


class FSQCodebook(Codebook):
    def __init__(self):
        super().__init__()
        self.fsq = FSQ(levels=[2], dim=1, preserve_symmetry=True)

    def quantize(self, y, mask):
        q, index = self.fsq(y)
        return q, index.long(), y.new_zeros(())

    def entries(self):
        return torch.tensor([[-1.0], [1.0]], device=self.fsq.implicit_codebook.device)


class VQCodebook(Codebook):
    def __init__(self, commitment: float):
        super().__init__()
        self.vq = VectorQuantize(dim=1, codebook_size=2, commitment_weight=commitment)
        start = torch.tensor([[-1.0], [1.0]])
        with torch.no_grad():
            self.vq._codebook.embed.copy_(start[None])
            self.vq._codebook.embed_avg.copy_(start[None])

    def quantize(self, y, mask):
        q, index, loss = self.vq(y, mask=mask if self.training else None)
        return q, index.long(), loss.reshape(())

    def entries(self):
        return self.vq.codebook.detach().reshape(2, 1).clone()  # a copy: the moving averages update in place


class LatentQuantizeCodebook(Codebook):
    def __init__(self, commitment: float):
        super().__init__()
        self.lq = LatentQuantize(
            levels=[2], dim=1, commitment_loss_weight=commitment, quantization_loss_weight=commitment
        )
        with torch.no_grad():  # the entries of the other scalar codebooks, -1 and +1
            self.lq.values_per_latent[0].copy_(torch.tensor([-1.0, 1.0]))

    def quantize(self, y, mask):
        q, _, loss = self.lq(y.transpose(1, 2))  # channels first
        q = q.transpose(1, 2)
        e = self.entries()  # learned values: the index is that of the nearer one
        index = ((q - e[1]).abs() < (q - e[0]).abs())[..., 0].long()
        return q, index, loss.reshape(())

    def entries(self):
        return self.lq.values_per_latent[0].detach().reshape(2, 1)


class RandomVQCodebook(Codebook):
    """A fixed random projection R [D, D] (Xavier normal) then the nearest of 2 fixed random entries."""

    def __init__(self, dim: int, commitment: float):
        super().__init__()
        self.dim = dim
        projection = torch.empty(dim, dim)
        nn.init.xavier_normal_(projection)
        self.register_buffer("projection", projection)
        self.vq = VectorQuantize(
            dim=dim, codebook_size=2, commitment_weight=commitment, freeze_codebook=True, rotation_trick=False
        )

    def to_code_space(self, y):
        return y @ self.projection

    def quantize(self, y, mask):
        q, index, loss = self.vq(self.to_code_space(y), mask=mask if self.training else None)
        return q, index.long(), loss.reshape(())

    def entries(self):
        return self.vq.codebook.detach().reshape(2, self.dim)

    def start_bias(self, offset):
        return torch.linalg.solve(self.projection.T, super().start_bias(offset))


def make_codebook(
    name: str,
    *,
    features: int,
    commitment_weight: float,
    lfq_commitment_weight: float,
    lfq_entropy_weight: float,
    lfq_diversity_gamma: float,
) -> Codebook:
    """The codebook ``name`` (config ``ide.model.codebook``, weights from the same config section)."""
    if name == "lfq":
        return LFQCodebook(lfq_commitment_weight, lfq_entropy_weight, lfq_diversity_gamma)
    if name == "fsq":
        return FSQCodebook()
    if name == "vq":
        return VQCodebook(commitment_weight)
    if name == "latent_quantize":
        return LatentQuantizeCodebook(commitment_weight)
    if name == "random_vq":
        return RandomVQCodebook(features, commitment_weight)
    raise ValueError(f"unknown codebook {name!r}: choose one of {', '.join(CODEBOOKS)}")
