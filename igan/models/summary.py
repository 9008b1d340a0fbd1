"""Parameters and FLOPs of G and D, like the tables of the GAN and involution papers.

FLOPs count one multiply-add as two FLOPs, as ``torch.utils.flop_counter`` does. That counter
sees convolutions, matrix products and attention; the involution multiply-add has no aten op
of its own, so its ``2 * C * K*K * H_out * W_out`` FLOPs per image are added from the layer's
shapes (its kernel-generating 1x1 convs are counted by the counter). Norms and activations are
left out, as in the papers.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from igan.ops import Involution2d, involution_backend


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def flops_per_sample(net: nn.Module, example: torch.Tensor) -> int:
    """FLOPs of ``net(example)`` for a batch of one (eval mode: no BN or spectral-norm updates)."""
    involution_flops = []

    def count(module: Involution2d, _inputs, output: torch.Tensor) -> None:
        _, channels, h, w = output.shape
        involution_flops.append(2 * channels * module.kernel_size**2 * h * w)

    handles = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, Involution2d)]
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad(), involution_backend("eager"), FlopCounterMode(display=False) as counter:
            net(example)
    finally:
        net.train(was_training)
        for handle in handles:
            handle.remove()
    return counter.get_total_flops() + sum(involution_flops)


def model_summary(generator: nn.Module, discriminator: nn.Module) -> dict[str, int]:
    """Parameters of G and D, FLOPs per generated image and per D forward of one image."""
    device = next(generator.parameters()).device
    z = torch.zeros(1, generator.latent_dim, device=device)
    image = torch.zeros(1, generator.channels, generator.image_size, generator.image_size, device=device)
    return {
        "params_G": count_parameters(generator),
        "params_D": count_parameters(discriminator),
        "flops_G_per_image": flops_per_sample(generator, z),
        "flops_D_per_image": flops_per_sample(discriminator, image),
    }
