"""GAN losses as small pure functions of discriminator outputs (logits or critic scores).

``*_dis`` functions return the discriminator's loss, ``*_gen`` the generator's. The penalties
take the discriminator itself because they differentiate through it.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def ns_loss_dis(real: Tensor, fake: Tensor) -> Tensor:
    """Binary cross-entropy on logits: real -> 1, fake -> 0 (Goodfellow et al., DCGAN)."""
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def ns_loss_gen(fake: Tensor) -> Tensor:
    """Non-saturating generator loss: -log D(G(z)), strong gradients while D wins."""
    return F.softplus(-fake).mean()


def hinge_loss_dis(real: Tensor, fake: Tensor) -> Tensor:
    """Hinge loss (SAGAN, SNGAN): margins of 1 on both sides."""
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def hinge_loss_gen(fake: Tensor) -> Tensor:
    return -fake.mean()


def wasserstein_loss_dis(real: Tensor, fake: Tensor) -> Tensor:
    """Critic loss of WGAN: push real scores up and fake scores down (use with a gradient penalty)."""
    return fake.mean() - real.mean()


def wasserstein_loss_gen(fake: Tensor) -> Tensor:
    return -fake.mean()


def gradient_penalty(discriminator: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): (||grad D(x_hat)||_2 - 1)^2 on random interpolates."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(x_hat).sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1.0).pow(2).mean()


def r1_penalty(real_scores: Tensor, real: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018): 0.5 * E||grad D(x)||^2 on real data; scale by gamma outside.

    Takes the scores D already computed for the loss on ``real`` (which must require grad), so the
    real batch goes through D once.
    """
    (grad,) = torch.autograd.grad(real_scores.sum(), real, create_graph=True)
    return 0.5 * grad.flatten(1).pow(2).sum(dim=1).mean()


#: loss name -> (discriminator loss, generator loss); the names are the config's ``model.loss``.
LOSSES: dict[str, tuple[Callable[[Tensor, Tensor], Tensor], Callable[[Tensor], Tensor]]] = {
    "ns": (ns_loss_dis, ns_loss_gen),
    "hinge": (hinge_loss_dis, hinge_loss_gen),
    "wgan-gp": (wasserstein_loss_dis, wasserstein_loss_gen),
}
