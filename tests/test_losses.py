"""GAN losses against their textbook definitions."""

import torch
import torch.nn.functional as F

from igan import losses


def test_ns_losses_are_binary_cross_entropy():
    real, fake = torch.randn(16), torch.randn(16)
    expected = F.binary_cross_entropy_with_logits(real, torch.ones(16)) + F.binary_cross_entropy_with_logits(fake, torch.zeros(16))
    assert torch.allclose(losses.ns_loss_dis(real, fake), expected)
    assert torch.allclose(losses.ns_loss_gen(fake), F.binary_cross_entropy_with_logits(fake, torch.ones(16)))


def test_hinge_losses():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-3.0, 0.0])
    assert losses.hinge_loss_dis(real, fake).item() == (0 + 0.5) / 2 + (0 + 1) / 2
    assert losses.hinge_loss_gen(fake).item() == 1.5


def test_gradient_penalty_of_a_linear_critic():
    x = torch.randn(4, 3, 8, 8)
    w = torch.randn(3, 8, 8)
    for scale, expected in ((1.0, 0.0), (2.0, 1.0)):
        unit = scale * w / w.norm()
        critic = lambda t: (t * unit).flatten(1).sum(1)  # gradient norm == scale everywhere
        gp = losses.gradient_penalty(critic, x, torch.randn_like(x))
        assert abs(gp.item() - expected) < 1e-5


def test_r1_penalty_of_a_linear_critic():
    w = torch.randn(3, 4, 4)
    critic = lambda t: (t * w).flatten(1).sum(1)
    assert torch.allclose(losses.r1_penalty(critic, torch.randn(5, 3, 4, 4)), 0.5 * w.pow(2).sum())
