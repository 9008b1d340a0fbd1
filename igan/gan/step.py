"""The maths of one GAN training iteration: the discriminator's loss and penalties, the generator's loss.

:meth:`igan.gan.GAN.training_step` reads as the iteration (toggle, loss, backward, step, log) and
calls these three functions for the losses; the throughput benchmark's bare loop
(``benchmarks/train_throughput.py``) calls them too, so that the loop it times is the step training
runs. The optimizer plumbing (freezing the other network, zero_grad, backward, step) stays with
each caller. No Lightning here.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import Tensor, nn

from igan.gan.augment import augment
from igan.gan.losses import gradient_penalty, r1_penalty
from igan.models.base import double_backward


def _augmented(images: Tensor, policy: Optional[list[str]]) -> Tensor:
    return augment(images, policy) if policy else images


@torch.no_grad()
def draw_fakes(generator: Callable[[Tensor], Tensor], batch_size: int, latent_dim: int,
               device: torch.device) -> Tensor:
    """Generated images for a discriminator update, from fresh noise, without a graph."""
    return generator(torch.randn(batch_size, latent_dim, device=device))


def scores_mean(scores: Tensor, probabilities: bool) -> Tensor:
    """D(x) averaged over the batch: as a probability (logits of the BCE loss) or as raw scores."""
    return torch.sigmoid(scores).mean() if probabilities else scores.mean()


def discriminator_terms(
    discriminator: nn.Module,
    real: Tensor,
    fake: Tensor,
    loss_dis: Callable[[Tensor, Tensor], Tensor],
    *,
    fast_discriminator: Optional[Callable[[Tensor], Tensor]] = None,
    augment_policy: Optional[list[str]] = None,
    gp_weight: Optional[float] = None,
    r1_gamma: float = 0.0,
    probabilities: bool = False,
) -> tuple[Tensor, dict[str, Tensor]]:
    """The loss of one discriminator update, and its terms to log.

    Args:
        discriminator: D itself; the forwards a penalty differentiates twice run through it.
        real, fake: the batch and generated images (both detached here).
        loss_dis: the discriminator loss of :data:`igan.gan.losses.LOSSES`.
        fast_discriminator: what the other forwards run through (e.g. a ``torch.compile``-d D);
            default ``discriminator``.
        augment_policy: augmentations of every image D sees (:func:`igan.gan.augment.parse_policy`).
        gp_weight: weight of the WGAN-GP gradient penalty; None = no penalty.
        r1_gamma: weight of the R1 penalty on the real batch; 0 = off.
        probabilities: log D's scores as sigmoid probabilities (the BCE loss) rather than raw.

    Returns:
        (total loss to backpropagate, {"d_loss", "d_real", "d_fake", and "gp" / "r1" when on}).
    """
    fast = fast_discriminator if fast_discriminator is not None else discriminator
    r1 = r1_gamma > 0
    real = _augmented(real.detach(), augment_policy).requires_grad_(r1)
    fake = _augmented(fake.detach(), augment_policy)
    # R1 differentiates D(real) twice, so that forward takes D's double-backward path.
    with double_backward(discriminator, r1):
        d_real = (discriminator if r1 else fast)(real)
    d_fake = fast(fake)
    d_loss = loss_dis(d_real, d_fake)
    terms = {"d_loss": d_loss, "d_real": scores_mean(d_real, probabilities),
             "d_fake": scores_mean(d_fake, probabilities)}
    total = d_loss
    if gp_weight is not None:
        with double_backward(discriminator):
            terms["gp"] = gradient_penalty(discriminator, real, fake)
        total = total + gp_weight * terms["gp"]
    if r1:
        terms["r1"] = r1_penalty(d_real, real)  # reuses the forward on the real batch
        total = total + r1_gamma * terms["r1"]
    return total, terms


def generator_loss(
    generator: Callable[[Tensor], Tensor],
    discriminator: Callable[[Tensor], Tensor],
    batch_size: int,
    latent_dim: int,
    loss_gen: Callable[[Tensor], Tensor],
    *,
    augment_policy: Optional[list[str]] = None,
    device: torch.device,
) -> Tensor:
    """The loss of one generator update: D's verdict on G's images from fresh noise, augmented as D's inputs."""
    z = torch.randn(batch_size, latent_dim, device=device)
    return loss_gen(discriminator(_augmented(generator(z), augment_policy)))
