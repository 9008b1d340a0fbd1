"""IDCGAN: the DCGAN backbone with involution (Li et al. 2021) in G and D.

Default placement follows the public InvolutionGAN code: one involution layer after the
generator stage at half the image side and one after the discriminator's first
down-sampling conv, where SAGAN puts attention. ``replace=True`` instead swaps every hidden
stride-2 (transposed) conv for involution + 1x1 conv, as RedNet swaps ResNet's 3x3 convs.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from igan.models.base import Discriminator, Generator
from igan.models.blocks import involution_block
from igan.models.dcgan import discriminator_backbone, generator_backbone
from igan.models.layers import maybe_sn


class IDCGANGenerator(Generator):
    """DCGAN generator with involution layers.

    Args:
        image_size, channels, latent_dim, width, spectral_norm, batch_norm: as DCGANGenerator.
        involution_resolutions: stages followed by an involution layer (default: image_size // 2,
            or none in replace mode; [] for none).
        kernel_size, group_channels, reduction_ratio: of each involution (K, C/G, r).
        involution_norm: BatchNorm in the involution's kernel branch (the paper's sigma).
        kernel_spectral_norm: spectral norm on the kernel branch's two 1x1 convs (off, as in the
            public InvolutionGAN code; on makes the ablation match attention, whose projections
            carry spectral norm).
        replace: swap each hidden stride-2 transposed conv for nearest up-sampling, involution
            and a 1x1 conv (RedNet style).
    """

    name = "idcgan"

    def __init__(
        self,
        image_size: int = 64,
        channels: int = 1,
        latent_dim: int = 100,
        width: int = 64,
        spectral_norm: bool = False,
        batch_norm: bool = True,
        involution_resolutions: Optional[list[int]] = None,
        kernel_size: int = 3,
        group_channels: int = 16,
        reduction_ratio: int = 4,
        involution_norm: bool = True,
        replace: bool = False,
        kernel_spectral_norm: bool = False,
    ) -> None:
        super().__init__(image_size, channels, latent_dim)

        def involution(c: int) -> nn.Module:
            return involution_block(c, kernel_size, group_channels, reduction_ratio, involution_norm,
                                    spectral_norm=kernel_spectral_norm)

        def up(c_in: int, c_out: int) -> nn.Module:
            mix = maybe_sn(nn.Conv2d(c_in, c_out, 1, bias=not batch_norm), spectral_norm)
            return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), involution(c_in), mix)

        if involution_resolutions is None:  # replace mode has its involutions already
            involution_resolutions = [] if replace else [image_size // 2]
        self.net = generator_backbone(
            image_size, channels, latent_dim, width, spectral_norm, batch_norm,
            blocks={r: involution for r in involution_resolutions}, up_layer=up if replace else None,
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class IDCGANDiscriminator(Discriminator):
    """DCGAN discriminator with involution layers.

    Args:
        image_size, channels, width, spectral_norm, batch_norm: as DCGANDiscriminator.
        involution_resolutions: convs followed by an involution layer (default: image_size // 2,
            or none in replace mode).
        kernel_size, group_channels, reduction_ratio: of each involution.
        involution_norm: BatchNorm in the kernel branch; must be off for a critic trained with a
            gradient penalty, whose per-sample gradients batch statistics would couple.
        kernel_spectral_norm: spectral norm on the kernel branch's 1x1 convs (see the generator).
        replace: swap each hidden stride-2 conv for a stride-2 involution and a 1x1 conv.
    """

    name = "idcgan"

    def __init__(
        self,
        image_size: int = 64,
        channels: int = 1,
        width: int = 64,
        spectral_norm: bool = False,
        batch_norm: bool = True,
        involution_resolutions: Optional[list[int]] = None,
        kernel_size: int = 3,
        group_channels: int = 16,
        reduction_ratio: int = 4,
        involution_norm: bool = True,
        replace: bool = False,
        kernel_spectral_norm: bool = False,
    ) -> None:
        super().__init__(image_size, channels)

        def involution(c: int, stride: int = 1) -> nn.Module:
            return involution_block(c, kernel_size, group_channels, reduction_ratio, involution_norm, stride,
                                    spectral_norm=kernel_spectral_norm)

        def down(c_in: int, c_out: int) -> nn.Module:
            mix = maybe_sn(nn.Conv2d(c_in, c_out, 1, bias=not batch_norm), spectral_norm)
            return nn.Sequential(involution(c_in, stride=2), mix)

        if involution_resolutions is None:  # replace mode has its involutions already
            involution_resolutions = [] if replace else [image_size // 2]
        self.net = discriminator_backbone(
            image_size, channels, width, spectral_norm, batch_norm,
            blocks={r: involution for r in involution_resolutions}, down_layer=down if replace else None,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()
