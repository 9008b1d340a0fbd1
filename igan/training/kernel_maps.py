"""Involution kernel maps: what each generated image's involution kernels look like, per pixel.

As in Figure 3 of Li et al. (CVPR 2021), each pixel's generated K x K kernel is summed over its
K*K taps (and here averaged over the G groups), giving one scalar per pixel: a heat map of
where the layer amplifies or suppresses its neighbourhood. Drawn beside the image it came from,
it shows whether the kernels follow the strokes (calligraphy) or objects (CIFAR-10).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from igan.ops import Involution2d

# A perceptually ordered dark-to-bright ramp (close to matplotlib's "inferno") at five stops.
_RAMP = torch.tensor(
    [[0.00, 0.00, 0.02], [0.34, 0.06, 0.43], [0.73, 0.21, 0.33], [0.98, 0.55, 0.04], [0.99, 1.00, 0.64]]
)


def involution_layers(net: nn.Module) -> list[Involution2d]:
    return [m for m in net.modules() if isinstance(m, Involution2d)]


@torch.no_grad()
def generate_with_kernel_maps(generator: nn.Module, z: Tensor) -> tuple[Tensor, list[Tensor]]:
    """Images ``G(z)`` in eval mode and, per Involution2d layer in forward order, its kernel map.

    Each map is ``(B, h, w)``: the layer's generated kernel summed over K*K and averaged over
    groups, at the layer's own resolution.
    """
    maps: list[Tensor] = []

    def record(module: Involution2d, inputs: tuple[Tensor, ...], _output: Tensor) -> None:
        maps.append(module.kernel(inputs[0]).sum(dim=2).mean(dim=1))

    handles = [m.register_forward_hook(record) for m in involution_layers(generator)]
    was_training = generator.training
    generator.eval()
    try:
        images = generator(z)
    finally:
        generator.train(was_training)
        for handle in handles:
            handle.remove()
    return images, maps


def heat_map(maps: Tensor, size: int) -> Tensor:
    """(B, h, w) values -> (B, 3, size, size) RGB in [0, 1], each map min-max scaled on its own."""
    # A diverging run can produce NaN/inf kernels; draw them as 0 rather than stop training.
    flat = torch.nan_to_num(maps.float(), nan=0.0, posinf=0.0, neginf=0.0).flatten(1)
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    scaled = ((flat - lo) / (hi - lo).clamp_min(1e-12)).view(maps.shape)
    scaled = F.interpolate(scaled.unsqueeze(1).float(), size=(size, size), mode="nearest").squeeze(1)
    position = scaled * (len(_RAMP) - 1)
    index = position.floor().long().clamp(max=len(_RAMP) - 2)
    frac = (position - index).unsqueeze(-1)
    rgb = _RAMP[index] * (1 - frac) + _RAMP[index + 1] * frac  # (B, size, size, 3)
    return rgb.permute(0, 3, 1, 2)


def kernel_map_tiles(images: Tensor, maps: list[Tensor]) -> Tensor:
    """Tiles ``[image, map_1, ..., map_L]`` per sample, as (B * (1 + L), 3, H, W) in [-1, 1]."""
    images = images.detach().float().cpu()
    rgb = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
    heats = [heat_map(m.float().cpu(), images.shape[-1]) * 2 - 1 for m in maps]
    return torch.stack([rgb, *heats], dim=1).flatten(0, 1)
