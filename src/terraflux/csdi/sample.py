"""Samplers for a trained CSDI noise model, all samples in one batch (no Python loop over samples).

- :func:`sample_ancestral`: the full DDPM reverse chain over all ``num_steps`` steps.
- :func:`sample_ddim`: deterministic DDIM (eta = 0) on ``steps`` evenly strided diffusion steps, reusing
  the same trained model (no retraining); only the initial noise is random.
Both return samples [S, B, K, L]; conditioned entries equal the observed values.
"""

from __future__ import annotations

from terraflux.csdi.model import CSDI

import torch


def _start(model: CSDI, x: torch.Tensor, cond: torch.Tensor, n_samples: int, generator: torch.Generator):
    b = x.shape[0]
    xs = x.repeat(n_samples, 1, 1)
    cs = cond.repeat(n_samples, 1, 1)
    noise = torch.randn(xs.shape, generator=generator, dtype=xs.dtype).to(xs.device)
    return xs, cs, model.side_info(cs), noise, b


def _clip_eps(current: torch.Tensor, eps: torch.Tensor, a_t: torch.Tensor, clip: float) -> torch.Tensor:
    """Noise estimate consistent with the predicted clean value x0 clipped to [-clip, clip] (0: unchanged).

    With the quadratic schedule 1e-4 -> 0.5 alpha_hat at the noisiest step is ~3e-5, so a noise error of 0.1
    means an x0 error of ~20 (normalised units); both samplers clip x0 (as DDPM's clip_denoised) so that such
    an error cannot enter the chain."""
    if not clip:
        return eps
    x0 = ((current - (1 - a_t).sqrt() * eps) / a_t.sqrt()).clamp(-clip, clip)
    return (current - a_t.sqrt() * x0) / (1 - a_t).sqrt()


def _finish(xs: torch.Tensor, cs: torch.Tensor, current: torch.Tensor, n_samples: int, b: int) -> torch.Tensor:
    out = cs * xs + (1 - cs) * current
    return out.view(n_samples, b, *xs.shape[1:])


@torch.no_grad()
def sample_ancestral(
    model: CSDI, x: torch.Tensor, cond: torch.Tensor, n_samples: int, generator: torch.Generator, clip: float = 5.0
) -> torch.Tensor:
    """x, cond [B, K, L] -> samples [S, B, K, L] by the full reverse chain (x0 clipped, see :func:`_clip_eps`)."""
    xs, cs, side, current, b = _start(model, x, cond, n_samples, generator)
    for t in range(model.cfg.num_steps - 1, -1, -1):
        steps = torch.full((xs.shape[0],), t, device=xs.device, dtype=torch.long)
        eps = model(xs, current, cs, steps, side)
        alpha, alpha_hat = model.alpha[t], model.alpha_hat[t]
        eps = _clip_eps(current, eps, alpha_hat, clip)
        current = (current - (1 - alpha) / (1 - alpha_hat).sqrt() * eps) / alpha.sqrt()
        if t > 0:
            sigma = ((1 - model.alpha_hat[t - 1]) / (1 - alpha_hat) * model.beta[t]).sqrt()
            current = current + sigma * torch.randn(current.shape, generator=generator, dtype=current.dtype).to(
                current.device
            )
    return _finish(xs, cs, current, n_samples, b)


def ddim_schedule(num_steps: int, steps: int) -> list[int]:
    """Evenly strided diffusion steps, descending, always including the last (noisiest) and 0."""
    if not 1 <= steps <= num_steps:
        raise ValueError(f"ddim steps must be in 1..{num_steps}, not {steps}")
    grid = torch.linspace(0, num_steps - 1, steps).round().long().unique().tolist()
    return sorted(grid, reverse=True)


@torch.no_grad()
def sample_ddim(
    model: CSDI,
    x: torch.Tensor,
    cond: torch.Tensor,
    n_samples: int,
    generator: torch.Generator,
    steps: int,
    *,
    eta: float,
    clip: float = 5.0,
) -> torch.Tensor:
    """x, cond [B, K, L] -> samples [S, B, K, L] by strided DDIM (x0 clipped, see :func:`_clip_eps`); ``eta`` = 0
    deterministic (random initial noise only), 1 the ancestral posterior variance on the strided steps."""
    xs, cs, side, current, b = _start(model, x, cond, n_samples, generator)
    schedule = ddim_schedule(model.cfg.num_steps, steps)
    for i, t in enumerate(schedule):
        steps_t = torch.full((xs.shape[0],), t, device=xs.device, dtype=torch.long)
        eps = model(xs, current, cs, steps_t, side)
        a_t = model.alpha_hat[t]
        a_prev = model.alpha_hat[schedule[i + 1]] if i + 1 < len(schedule) else torch.ones_like(a_t)
        eps = _clip_eps(current, eps, a_t, clip)
        x0 = (current - (1 - a_t).sqrt() * eps) / a_t.sqrt()
        sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)).sqrt()
        current = a_prev.sqrt() * x0 + (1 - a_prev - sigma**2).clamp_min(0).sqrt() * eps
        if eta and i + 1 < len(schedule):
            current = current + sigma * torch.randn(current.shape, generator=generator, dtype=current.dtype).to(
                current.device
            )
    return _finish(xs, cs, current, n_samples, b)


def sample(
    model: CSDI,
    x: torch.Tensor,
    cond: torch.Tensor,
    n_samples: int,
    generator: torch.Generator,
    sampler: str,
    ddim_steps: int,
    ddim_eta: float,
) -> torch.Tensor:
    """Samples [S, B, K, L] by the configured sampler (config ``dere.csdi``: sampler, ddim_steps, ddim_eta)."""
    if sampler == "ancestral":
        return sample_ancestral(model, x, cond, n_samples, generator)
    if sampler == "ddim":
        return sample_ddim(model, x, cond, n_samples, generator, ddim_steps, eta=ddim_eta)
    raise ValueError(f"sampler must be 'ancestral' or 'ddim', not {sampler!r}")
