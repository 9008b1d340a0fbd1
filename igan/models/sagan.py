"""SAGAN (Zhang et al. 2019), unconditional: the DCGAN backbone with spectral norm and self-attention.

Attention sits after the stage at half the image side in G and after the first down-sampling
conv in D (16x16 for 32x32 images, 32x32 for 64x64), where IDCGAN puts its involution. The
attention block is the official code's (keys and values max-pooled 2x2, values at C/2, an output
conv); ``attention_pool=1, attention_value_ratio=1`` gives the full-width block of heykeetae's
PyTorch SAGAN, on which the public InvolutionGAN comparison was built.
"""

from __future__ import annotations

from typing import Optional

import torch

from igan.models.base import Discriminator, Generator
from igan.models.blocks import SelfAttention2d
from igan.models.dcgan import discriminator_backbone, generator_backbone


def _attention_blocks(resolutions: Optional[list[int]], image_size: int, spectral_norm: bool, pool: int, value_ratio: int) -> dict:
    def block(c: int) -> SelfAttention2d:
        return SelfAttention2d(c, spectral_norm, value_ratio=value_ratio, pool=pool)

    return {r: block for r in (resolutions if resolutions is not None else [image_size // 2])}


class SAGANGenerator(Generator):
    """DCGAN generator with self-attention; spectral norm and BatchNorm as in SAGAN.

    Args:
        image_size, channels, latent_dim, width, spectral_norm, batch_norm: as DCGANGenerator.
        attention_resolutions: stages followed by self-attention (default: image_size // 2;
            [] for none).
        attention_pool, attention_value_ratio: the attention's key/value max-pooling and value
            width C / ratio (:class:`igan.models.blocks.SelfAttention2d`); 2 and 2 as in the
            official SAGAN code, 1 and 1 for heykeetae's full-width variant.
    """

    name = "sagan"

    def __init__(
        self,
        image_size: int = 64,
        channels: int = 1,
        latent_dim: int = 128,
        width: int = 64,
        spectral_norm: bool = True,
        batch_norm: bool = True,
        attention_resolutions: Optional[list[int]] = None,
        attention_pool: int = 2,
        attention_value_ratio: int = 2,
    ) -> None:
        super().__init__(image_size, channels, latent_dim)
        blocks = _attention_blocks(attention_resolutions, image_size, spectral_norm, attention_pool, attention_value_ratio)
        self.net = generator_backbone(image_size, channels, latent_dim, width, spectral_norm, batch_norm, blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class SAGANDiscriminator(Discriminator):
    """DCGAN discriminator with self-attention; spectral norm and no BatchNorm, as in SAGAN.

    Args:
        image_size, channels, width, spectral_norm, batch_norm: as DCGANDiscriminator.
        attention_resolutions: convs followed by self-attention (default: image_size // 2).
        attention_pool, attention_value_ratio: as SAGANGenerator.
    """

    name = "sagan"

    def __init__(
        self,
        image_size: int = 64,
        channels: int = 1,
        width: int = 64,
        spectral_norm: bool = True,
        batch_norm: bool = False,
        attention_resolutions: Optional[list[int]] = None,
        attention_pool: int = 2,
        attention_value_ratio: int = 2,
    ) -> None:
        super().__init__(image_size, channels)
        blocks = _attention_blocks(attention_resolutions, image_size, spectral_norm, attention_pool, attention_value_ratio)
        self.net = discriminator_backbone(image_size, channels, width, spectral_norm, batch_norm, blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()
