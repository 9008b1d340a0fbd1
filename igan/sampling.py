"""Generate images from a training checkpoint without executing pickled code.

A Lightning checkpoint holds the generator as a spec (class path + arguments, plain data)
and its weights, so ``torch.load(weights_only=True)`` is enough to rebuild it on any device.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from igan.checkpoint_file import load_checkpoint_file
from igan.errors import IganError
from igan.images import grid_array, save_png
from igan.models.spec import build_saved
from igan.noise import fixed_noise


def load_generator(ckpt_path: str | Path, map_location: str = "cpu") -> nn.Module:
    """The generator of a checkpoint (its EMA copy when the run kept one), in eval mode."""
    path = Path(ckpt_path)
    ckpt = load_checkpoint_file(path, map_location)
    hparams = ckpt.get("hyper_parameters", {})
    if "generator" not in hparams or "state_dict" not in ckpt:
        raise IganError(f"{path} is not an igan training checkpoint (no generator spec or state_dict)")
    generator = build_saved(hparams["generator"])
    state = ckpt["state_dict"]
    prefix = "generator_ema.module." if any(k.startswith("generator_ema.module.") for k in state) else "generator."
    weights = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    try:
        generator.load_state_dict(weights)
    except RuntimeError as err:
        raise IganError(f"{path}: generator weights do not match its spec: {str(err).splitlines()[0]}") from err
    return generator.eval()


@torch.no_grad()
def generate(generator: nn.Module, num: int, seed: int = 0, batch_size: int = 256) -> torch.Tensor:
    """``num`` images in [-1, 1] from seeded noise; the same seed gives the same images."""
    noise = fixed_noise(num, generator.latent_dim, seed)
    device = next(generator.parameters()).device
    return torch.cat([generator(z.to(device)).cpu() for z in noise.split(batch_size)])


def write_images(images: torch.Tensor, out: str | Path) -> list[Path]:
    """A PNG grid when ``out`` ends in .png, else one PNG per image in the folder ``out``."""
    out = Path(out)
    if out.suffix.lower() == ".png":
        return [save_png(grid_array(images), out)]
    return [save_png(grid_array(img[None], nrow=1, padding=0), out / f"{i:05d}.png") for i, img in enumerate(images)]
