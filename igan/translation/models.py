"""The translation networks: a U-Net generator with a style embedding and a conditional PatchGAN.

- :class:`UNetGenerator` (pix2pix, Isola et al. 2017): stride-2 4x4 convs halve the glyph down to
  1x1, transposed convs bring it back, each decoder stage concatenated with the encoder stage of
  its resolution. A learned style embedding (zi2zi) is concatenated to the 1x1 bottleneck.
- :class:`PatchDiscriminator`: pix2pix's PatchGAN on the source beside the image (two channels),
  one logit per patch, conditioned on the style by projection (Miyato & Koyama 2018): each
  patch's logit adds the inner product of the style's embedding with the patch's features.

Both take one extra block (:func:`make_block`: ``conv``, ``attention`` or ``involution``) at the
same resolutions, so configs that differ in the block alone compare the three operators.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from igan.errors import IganError
from igan.models.blocks import SelfAttention2d, involution_block
from igan.models.layers import dcgan_init, keep_own_init

BLOCKS = ("conv", "attention", "involution")
Block = Literal["conv", "attention", "involution"]


def make_block(kind: str, channels: int, kernel_size: int = 3, group_channels: int = 16, reduction_ratio: int = 2,
               attention_pool: int = 2) -> nn.Module:
    """The block compared: a plain 3x3 conv, SAGAN's self-attention or an involution, all C -> C.

    The conv and the involution are plain layers (the involution's kernel branch has BatchNorm +
    ReLU, as in IDCGAN); attention is residual with gamma = 0 at the start, as in SAGAN.
    """
    if kind == "conv":
        return nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2)
    if kind == "attention":
        return SelfAttention2d(channels, spectral_norm=False, pool=attention_pool)
    if kind == "involution":
        return involution_block(channels, kernel_size, group_channels, reduction_ratio, batch_norm=True)
    raise IganError(f"model.block must be one of {', '.join(BLOCKS)}, got {kind!r}")


def _levels(image_size: int) -> int:
    levels = image_size.bit_length() - 1
    if image_size < 8 or 1 << levels != image_size:
        raise IganError(f"image_size must be a power of two >= 8, got {image_size}")
    return levels


class UNetGenerator(nn.Module):
    """(source (B, 1, S, S), style (B,)) -> image (B, 1, S, S) in [-1, 1].

    Encoder stage i outputs ``width * 2**min(i, 3)`` channels at ``S / 2**(i+1)``; the block sits
    after the encoder and the decoder stage of each resolution in ``block_resolutions``.
    """

    def __init__(self, image_size: int, num_styles: int, width: int = 32, style_dim: int = 64,
                 block: Block = "conv", block_resolutions: tuple[int, ...] = (16,), **block_args) -> None:
        super().__init__()
        levels = _levels(image_size)
        valid = {image_size >> (i + 1) for i in range(levels - 1)}  # every resolution but the 1x1 bottleneck
        bad = [r for r in block_resolutions if r not in valid]
        if bad:
            raise IganError(f"model.block_resolutions {bad} not in the generator's {sorted(valid)} at {image_size} px")
        channels = [width * 2 ** min(i, 3) for i in range(levels)]
        self.style = nn.Embedding(num_styles, style_dim)
        self.down = nn.ModuleList()
        self.down_blocks = nn.ModuleDict()
        for i, c in enumerate(channels):
            layers: list[nn.Module] = [nn.Conv2d(1 if i == 0 else channels[i - 1], c, 4, 2, 1, bias=False)]
            if 0 < i < levels - 1:  # no norm on the raw input nor on the 1x1 bottleneck (pix2pix)
                layers.append(nn.BatchNorm2d(c))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            self.down.append(nn.Sequential(*layers))
            if image_size >> (i + 1) in block_resolutions:
                self.down_blocks[str(i)] = keep_own_init(make_block(block, c, **block_args))
        self.up = nn.ModuleList()
        self.up_blocks = nn.ModuleDict()
        for i in reversed(range(levels)):  # stage i outputs the resolution of encoder stage i - 1
            c_in = channels[i] + style_dim if i == levels - 1 else 2 * channels[i]
            if i == 0:
                self.up.append(nn.Sequential(nn.ConvTranspose2d(c_in, 1, 4, 2, 1), nn.Tanh()))
                continue
            c_out = channels[i - 1]
            self.up.append(nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)))
            if image_size >> i in block_resolutions:
                self.up_blocks[str(i)] = keep_own_init(make_block(block, c_out, **block_args))
        dcgan_init(self)

    def forward(self, source: Tensor, style: Tensor) -> Tensor:
        skips = []
        x = source
        for i, stage in enumerate(self.down):
            x = stage(x)
            if str(i) in self.down_blocks:
                x = self.down_blocks[str(i)](x)
            skips.append(x)
        embedding = self.style(style)[:, :, None, None].expand(-1, -1, *x.shape[2:])
        x = torch.cat([x, embedding], dim=1)
        levels = len(self.down)
        for stage, i in zip(self.up, reversed(range(levels))):
            x = stage(x)
            if str(i) in self.up_blocks:
                x = self.up_blocks[str(i)](x)
            if i > 0:
                x = torch.cat([x, skips[i - 1]], dim=1)
        return x


class PatchDiscriminator(nn.Module):
    """(source, image, style) -> (B, P, P) patch logits; pix2pix's PatchGAN with a style projection.

    Three stride-2 4x4 convs (widths w, 2w, 4w), a stride-1 4x4 conv (8w), then a 1x1 conv to one
    logit per patch plus the projection term. The block sits after the strided stage of each
    resolution in ``block_resolutions``.
    """

    def __init__(self, image_size: int, num_styles: int, width: int = 32, block: Block = "conv",
                 block_resolutions: tuple[int, ...] = (16,), **block_args) -> None:
        super().__init__()
        valid = {image_size >> 1, image_size >> 2, image_size >> 3}
        bad = [r for r in block_resolutions if r not in valid]
        if bad:
            raise IganError(f"model.block_resolutions {bad} not in the discriminator's {sorted(valid)} at {image_size} px")
        layers: list[nn.Module] = []
        c_in = 2
        for i, c in enumerate((width, 2 * width, 4 * width)):
            layers += [nn.Conv2d(c_in, c, 4, 2, 1, bias=i == 0)]
            if i > 0:
                layers.append(nn.BatchNorm2d(c))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            if image_size >> (i + 1) in block_resolutions:
                layers.append(keep_own_init(make_block(block, c, **block_args)))
            c_in = c
        layers += [nn.Conv2d(c_in, 8 * width, 4, 1, 1, bias=False), nn.BatchNorm2d(8 * width), nn.LeakyReLU(0.2, inplace=True)]
        self.features = nn.Sequential(*layers)
        self.logit = nn.Conv2d(8 * width, 1, 1)
        self.style = nn.Embedding(num_styles, 8 * width)
        dcgan_init(self)
        nn.init.normal_(self.style.weight, 0.0, 0.02)  # N(0, 1) would let the projection swamp the patch logits

    def forward(self, source: Tensor, image: Tensor, style: Tensor) -> Tensor:
        h = self.features(torch.cat([source, image], dim=1))
        projection = (self.style(style)[:, :, None, None] * h).sum(dim=1)
        return self.logit(h).squeeze(1) + projection
