"""IDE losses, class weights, learning-rate schedule and majority vote, against hand computations."""

import math

import terraflux  # noqa: F401
from terraflux.ide.drivers import DriverVote
from terraflux.ide.losses import class_weights, driver_loss, weighted_bce
from terraflux.ide.schedule import warmup_cosine, warmup_cosine_factor

import numpy as np
import pytest
import torch


def test_class_weights_follow_the_batch_frequencies():
    """The weights depend on the class shares among valid pixels only: one weight per class, the rarer class
    heavier, equal weights for balanced classes; invalid pixels weigh nothing whatever their target."""
    target = torch.tensor([[[1, 0, 0, 0], [0, 0, 1, 0]]], dtype=torch.bool)
    valid = torch.tensor([[[1, 1, 1, 1], [1, 1, 0, 0]]], dtype=torch.bool)  # 6 valid, 1 extreme among them
    w = class_weights(target, valid)
    assert w.shape == target.shape and (w[~valid] == 0).all()
    pos, neg = w[target & valid], w[~target & valid]
    assert (pos == pos[0]).all() and (neg == neg[0]).all() and pos[0] > neg[0] > 0
    torch.testing.assert_close(class_weights(target ^ ~valid, valid), w)  # targets of invalid pixels do not count
    # the same shares in another arrangement or a larger batch: the same weight per class
    order = torch.randperm(target.numel(), generator=torch.Generator().manual_seed(0))
    shuffled = class_weights(target.flatten()[order].view_as(target), valid.flatten()[order].view_as(valid))
    torch.testing.assert_close(shuffled, w.flatten()[order].view_as(w))
    torch.testing.assert_close(class_weights(target.repeat(3, 1, 1), valid.repeat(3, 1, 1)), w.repeat(3, 1, 1))
    # the rarer the extremes, the heavier they weigh against the normal pixels; balanced: equal weights
    ratios = []
    for n_pos in (1, 2, 4, 8):
        balance = torch.arange(16).reshape(1, 4, 4) < n_pos
        weights = class_weights(balance, torch.ones_like(balance))
        ratios.append(float(weights[0, 0, 0] / weights[0, -1, -1]))
    assert ratios == sorted(ratios, reverse=True) and ratios[-1] == pytest.approx(1.0)


def test_weighted_bce_and_driver_loss_respect_their_masks():
    logits = torch.tensor([[[2.0, -1.0]]])
    target = torch.tensor([[[1, 0]]], dtype=torch.bool)
    weights = torch.tensor([[[2.0, 0.0]]])
    assert weighted_bce(logits, target, weights).item() == pytest.approx(2 * math.log(1 + math.exp(-2)))
    z = torch.tensor([[0.7, -0.2], [0.4, 0.9]], requires_grad=True)  # [pixel x, week]
    codes = z + (torch.where(z > 0, 1.0, -1.0) - z).detach()  # straight-through, as LFQ does
    driver = (z > 0).float()
    score = driver + driver * ((codes + 1).abs() / 2 - ((codes + 1).abs() / 2).detach())  # as the quantiser does
    score5 = score.T.reshape(1, 1, 2, 1, 2)  # [N, V, T, H, W]
    normal = torch.tensor([[[True, False]]])  # only pixel 0 is normal: its codes are +1 (week 0), -1 (week 1)
    loss = driver_loss(score5, normal)
    assert loss.item() == pytest.approx(0.5)
    loss.backward()
    # gradient only for the anomalous code at the normal pixel; none for normal codes or other pixels
    assert z.grad.tolist() == [[0.25, 0.0], [0.0, 0.0]]  # d(|c + 1| / 2) / dz / 2 entries


def test_schedule_warms_up_from_the_first_step_then_decays_to_zero():
    factors = [warmup_cosine_factor(s, 4, 12) for s in range(12)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert all(a >= b for a, b in zip(factors[3:], factors[4:], strict=False))
    assert warmup_cosine_factor(12, 4, 12) == pytest.approx(0.0)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    sched = warmup_cosine(opt, 4, 12)
    seen = []
    for _ in range(5):  # the engine calls scheduler.step() after each optimiser step
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3 * warmup_cosine_factor(4, 4, 12)])


def test_majority_vote_over_overlapping_windows_matches_brute_force():
    rng = np.random.default_rng(0)
    weeks, T, first_target = 12, 3, 2
    masks = {t: rng.random((2, T, 2, 2)) > 0.5 for t in range(first_target, weeks)}  # newest first
    vote = DriverVote(2, first_target - T + 1, weeks - (first_target - T + 1), 2, 2)
    for t, m in masks.items():
        vote.add(t, m)
    drivers, covered = vote.result()
    for week in range(first_target - T + 1, weeks):
        seen = [masks[t][:, t - week] for t in masks if 0 <= t - week < T]
        expected = np.mean(seen, axis=0) >= 0.5
        np.testing.assert_array_equal(drivers[:, week - vote.first], expected)
    assert covered.all()
