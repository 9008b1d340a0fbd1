"""Parameters and FLOPs of G and D, like the tables of the GAN and involution papers.

FLOPs count one multiply-add as two FLOPs, as ``torch.utils.flop_counter`` does. That counter
sees convolutions, matrix products and attention; the involution multiply-add has no aten op
of its own, so its ``2 * C * K*K * H_out * W_out`` FLOPs per image are added from the layer's
shapes (its kernel-generating 1x1 convs are counted by the counter). Norms and activations are
left out, as in the papers.

The same forwards check the shapes of the model contract (:mod:`igan.models.base`), so a model
that breaks it stops when the CLI summarises it, before anything is trained.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from igan.errors import IganError
from igan.ops import Involution2d, involution_backend


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def flops_and_output(net: nn.Module, example: torch.Tensor) -> tuple[int, torch.Tensor]:
    """FLOPs of ``net(example)`` and its output, in eval mode (no BN or spectral-norm updates)."""
    involution_flops = []

    def count(module: Involution2d, _inputs, output: torch.Tensor) -> None:
        _, channels, h, w = output.shape
        involution_flops.append(2 * channels * module.kernel_size**2 * h * w)

    handles = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, Involution2d)]
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad(), involution_backend("eager"), FlopCounterMode(display=False) as counter:
            output = net(example)
    finally:
        net.train(was_training)
        for handle in handles:
            handle.remove()
    return counter.get_total_flops() + sum(involution_flops), output


def _run(net: nn.Module, example: torch.Tensor, what: str) -> tuple[int, torch.Tensor]:
    try:
        return flops_and_output(net, example)
    except RuntimeError as err:  # e.g. a layer sized for another latent_dim or image_size
        raise _breaks(net, f"{what} of shape {tuple(example.shape)} failed: {str(err).splitlines()[0]}") from err


def _breaks(net: nn.Module, what: str) -> IganError:
    return IganError(f"{type(net).__qualname__} breaks the model contract (igan.models.base): {what}")


def check_pair(generator: nn.Module, discriminator: nn.Module) -> None:
    """The attributes G and D must share: the contract's ``latent_dim``, ``image_size`` and ``channels``."""
    for net, attrs in ((generator, ("latent_dim", "image_size", "channels")), (discriminator, ("image_size", "channels"))):
        missing = [a for a in attrs if not isinstance(getattr(net, a, None), int)]
        if missing:
            raise _breaks(net, f"no {', '.join(missing)} (derive it from igan.models.base.Generator or Discriminator)")
    for attr in ("image_size", "channels"):
        if getattr(generator, attr) != getattr(discriminator, attr):
            raise IganError(f"{type(generator).__qualname__} and {type(discriminator).__qualname__} disagree on "
                            f"{attr}: {getattr(generator, attr)} and {getattr(discriminator, attr)}")


def model_summary(generator: nn.Module, discriminator: nn.Module) -> dict[str, int]:
    """Parameters of G and D, FLOPs per generated image and per D forward of one image.

    Raises :class:`IganError` when G or D breaks the shapes of the model contract.
    """
    check_pair(generator, discriminator)
    device = next(generator.parameters()).device
    z = torch.zeros(1, generator.latent_dim, device=device)
    shape = (1, generator.channels, generator.image_size, generator.image_size)
    flops_g, fake = _run(generator, z, "z")
    if tuple(fake.shape) != shape:
        raise _breaks(generator, f"z of shape (1, latent_dim={generator.latent_dim}) gave images of shape "
                                 f"{tuple(fake.shape)}, not (1, channels, image_size, image_size) = {shape}")
    flops_d, scores = _run(discriminator, torch.zeros(shape, device=device), "images")
    if tuple(scores.shape) not in ((1,), (1, 1)):
        raise _breaks(discriminator, f"images of shape {shape} gave scores of shape {tuple(scores.shape)}, "
                                     "not one score per image: (1,) or (1, 1)")
    return {
        "params_G": count_parameters(generator),
        "params_D": count_parameters(discriminator),
        "flops_G_per_image": flops_g,
        "flops_D_per_image": flops_d,
    }
