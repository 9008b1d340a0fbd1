"""DCGAN (Radford et al. 2016) generator and discriminator for 32x32 and 64x64 images.

The two builders below are also the backbone of SAGAN and IDCGAN in this project: ``blocks``
maps a resolution to a factory that inserts one extra layer (self-attention, involution)
after the stage of that resolution, so the models of the comparison differ in that layer only.
"""

from __future__ import annotations

from typing import Callable, Mapping, Optional

import torch
from torch import nn

from igan.models.base import Discriminator, Generator
from igan.models.layers import dcgan_init, maybe_sn, num_stages

BlockFactory = Callable[[int], nn.Module]
#: (in_channels, out_channels) -> a layer that doubles (generator) or halves (discriminator) the resolution.
StageFactory = Callable[[int, int], nn.Module]


def generator_backbone(
    image_size: int,
    channels: int,
    latent_dim: int,
    width: int,
    spectral_norm: bool,
    batch_norm: bool,
    blocks: Optional[Mapping[int, BlockFactory]] = None,
    up_layer: Optional[StageFactory] = None,
) -> nn.Sequential:
    """z as (B, latent_dim, 1, 1) -> image; ``blocks[r](c)`` is inserted after the stage at r x r.

    ``up_layer(c_in, c_out)`` replaces the stride-2 transposed conv of the hidden stages.
    """
    blocks = dict(blocks or {})

    def stage(conv: nn.Module, c_out: int) -> list[nn.Module]:
        return [conv, nn.BatchNorm2d(c_out) if batch_norm else nn.Identity(), nn.ReLU(inplace=True)]

    def up(c_in: int, c_out: int) -> nn.Module:
        if up_layer is not None:
            return up_layer(c_in, c_out)
        return maybe_sn(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=not batch_norm), spectral_norm)

    stages = num_stages(image_size)
    c, resolution = width * 2 ** (stages - 1), 4
    layers = stage(maybe_sn(nn.ConvTranspose2d(latent_dim, c, 4, 1, 0, bias=not batch_norm), spectral_norm), c)
    for _ in range(stages - 1):
        layers += stage(up(c, c // 2), c // 2)
        c, resolution = c // 2, resolution * 2
        if resolution in blocks:
            layers.append(blocks.pop(resolution)(c))
    if blocks:
        raise ValueError(f"no generator stage at resolution(s) {sorted(blocks)} for image_size {image_size}")
    layers += [maybe_sn(nn.ConvTranspose2d(c, channels, 4, 2, 1), spectral_norm), nn.Tanh()]
    net = nn.Sequential(*layers)
    dcgan_init(net)
    return net


def discriminator_backbone(
    image_size: int,
    channels: int,
    width: int,
    spectral_norm: bool,
    batch_norm: bool,
    blocks: Optional[Mapping[int, BlockFactory]] = None,
    down_layer: Optional[StageFactory] = None,
) -> nn.Sequential:
    """image -> (B, 1, 1, 1) logits; ``blocks[r](c)`` is inserted after the conv that outputs r x r.

    ``down_layer(c_in, c_out)`` replaces the stride-2 conv of the hidden stages.
    """
    blocks = dict(blocks or {})
    stages = num_stages(image_size)
    c, resolution = width, image_size // 2
    layers: list[nn.Module] = [maybe_sn(nn.Conv2d(channels, c, 4, 2, 1), spectral_norm), nn.LeakyReLU(0.2, True)]
    if resolution in blocks:
        layers.append(blocks.pop(resolution)(c))
    for _ in range(stages - 1):
        if down_layer is not None:
            conv = down_layer(c, c * 2)
        else:
            conv = maybe_sn(nn.Conv2d(c, c * 2, 4, 2, 1, bias=not batch_norm), spectral_norm)
        layers += [conv, nn.BatchNorm2d(c * 2) if batch_norm else nn.Identity(), nn.LeakyReLU(0.2, True)]
        c, resolution = c * 2, resolution // 2
        if resolution in blocks:
            layers.append(blocks.pop(resolution)(c))
    if blocks:
        raise ValueError(f"no discriminator stage at resolution(s) {sorted(blocks)} for image_size {image_size}")
    layers.append(maybe_sn(nn.Conv2d(c, 1, 4, 1, 0), spectral_norm))
    net = nn.Sequential(*layers)
    dcgan_init(net)
    return net


class DCGANGenerator(Generator):
    """z (B, latent_dim) -> image (B, channels, image_size, image_size) in [-1, 1].

    A 4x4 transposed conv from z, then stride-2 transposed convs halving the width each time
    (BatchNorm + ReLU after each), then a transposed conv to ``channels`` with tanh.

    Args:
        image_size: output side, a power of two (32 and 64 are tested).
        channels: 1 for grayscale, 3 for RGB.
        latent_dim: size of z.
        width: channels of the last hidden stage; earlier stages have 2x, 4x, ... of it.
        spectral_norm: spectrally normalise every conv (the SAGAN recipe).
        batch_norm: BatchNorm after each hidden transposed conv.
    """

    name = "dcgan"

    def __init__(
        self,
        image_size: int = 64,
        channels: int = 1,
        latent_dim: int = 100,
        width: int = 64,
        spectral_norm: bool = False,
        batch_norm: bool = True,
    ) -> None:
        super().__init__(image_size, channels, latent_dim)
        self.net = generator_backbone(image_size, channels, latent_dim, width, spectral_norm, batch_norm)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class DCGANDiscriminator(Discriminator):
    """image (B, channels, image_size, image_size) -> one logit per image (B,).

    A stride-2 conv with LeakyReLU(0.2) (no norm on the input layer), then stride-2 convs
    doubling the width (BatchNorm + LeakyReLU) down to 4x4, then a 4x4 conv to one logit.

    Args:
        image_size, channels: as the images.
        width: channels after the first conv.
        spectral_norm: spectrally normalise every conv.
        batch_norm: BatchNorm after the hidden convs (turn off for a WGAN-GP critic, where
            batch statistics would couple the samples the gradient penalty treats separately).
    """

    name = "dcgan"

    def __init__(
        self,
        image_size: int = 64,
        channels: int = 1,
        width: int = 64,
        spectral_norm: bool = False,
        batch_norm: bool = True,
    ) -> None:
        super().__init__(image_size, channels)
        self.net = discriminator_backbone(image_size, channels, width, spectral_norm, batch_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()
