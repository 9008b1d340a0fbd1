"""Generate images from a training checkpoint without executing pickled code.

A Lightning checkpoint holds the generator as a spec (class path + arguments, plain data)
and its weights, so ``torch.load(weights_only=True)`` is enough to rebuild it on any device.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator

import torch
from PIL import Image
from torch import nn

from igan.io.checkpoint_file import load_checkpoint_file
from igan.errors import IganError
from igan.io.files import atomic_write
from igan.io.images import IMAGE_FORMATS, grid_array, grid_pixels, save_image
from igan.models.spec import build_saved
from igan.noise import interpolation_noise, truncate_rows

#: Suffixes :func:`write_animation` writes, and the PIL format of each.
ANIMATION_FORMATS = {".gif": "GIF", ".webp": "WEBP"}
#: How long each frame of an animation shows.
FRAME_MS = 100


def checkpoint_name(path: str | Path) -> str:
    """How a checkpoint is named to people (the page's lists, a font's name table): ``<run>/<file>``
    for a run's ``checkpoints/`` file (``calligraphy-idcgan-s0/last.ckpt``), else the file name."""
    path = Path(path)
    if path.parent.name == "checkpoints" and path.parent.parent.name:
        return f"{path.parent.parent.name}/{path.name}"
    return path.name


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


def noise_batches(num: int, latent_dim: int, seed: int, batch_size: int = 256,
                  truncation: float | None = None) -> Iterator[torch.Tensor]:
    """:func:`igan.noise.fixed_noise` ``(num, latent_dim, seed)``, the same values, drawn batch by batch.

    torch's CPU normal sampler fills blocks of 16 values from one uniform stream, so draws of a
    multiple of 16 values continue the stream exactly; the last draw takes at least 16 values
    (or all of them), as the single draw's tail does. With ``truncation`` T, the values outside
    [-T, T] are then resampled row by row (:func:`igan.noise.truncate_rows`): the same rows again.
    """
    rows = max(16, batch_size - batch_size % 16)  # rows * latent_dim is a multiple of 16
    generator = torch.Generator().manual_seed(seed)
    start = 0
    while start < num:
        count = min(rows, num - start)
        rest = num - start - count
        if 0 < rest and rest * latent_dim < 16:  # a tail under 16 values would be drawn another way
            count += rest
        z = torch.randn(count, latent_dim, generator=generator)
        yield z if truncation is None else truncate_rows(z, truncation, seed, start)
        start += count


@torch.no_grad()
def generate_batches(generator: nn.Module, num: int, seed: int = 0, batch_size: int = 256,
                     truncation: float | None = None) -> Iterator[torch.Tensor]:
    """``num`` images in [-1, 1] from seeded (optionally truncated) noise, one batch at a time (on the CPU):
    memory stays bounded."""
    device = next(generator.parameters()).device
    for z in noise_batches(num, generator.latent_dim, seed, batch_size, truncation):
        yield generator(z.to(device)).cpu()


@torch.no_grad()
def interpolation_frames(generator: nn.Module, seed_a: int, seed_b: int, frames: int, path: str = "slerp",
                         truncation: float | None = None) -> torch.Tensor:
    """(frames, C, H, W) in [-1, 1]: the images along the path from seed A's z to seed B's
    (:func:`igan.noise.interpolation_noise`), on the CPU."""
    z = interpolation_noise(generator.latent_dim, seed_a, seed_b, frames, path, truncation)
    device = next(generator.parameters()).device
    return generator(z.to(device)).cpu()


def animation_kind(out: str | Path) -> str | None:
    """``"GIF"`` or ``"WEBP"`` for a path that names an animation, else None."""
    return ANIMATION_FORMATS.get(Path(out).suffix.lower())


def write_animation(images: torch.Tensor, out: str | Path, frame_ms: int = FRAME_MS) -> Path:
    """One animated GIF or WebP (by suffix) of (N, C, H, W) images in [-1, 1], a frame each, looping.

    WebP is lossless, so each frame holds exactly the pixels of the row grid; GIF has a palette of
    256 colours, exact for grayscale glyphs.
    """
    frames = [Image.fromarray(grid_array(img[None], nrow=1, padding=0)) for img in images]
    image_format = ANIMATION_FORMATS[Path(out).suffix.lower()]
    options = {"lossless": True} if image_format == "WEBP" else {"disposal": 2}
    return atomic_write(Path(out), lambda tmp: frames[0].save(tmp, format=image_format, save_all=True,
                                                             append_images=frames[1:], duration=frame_ms,
                                                             loop=0, **options))


def output_kind(out: str) -> str:
    """``"grid"`` for an image file path (by suffix), ``"folder"`` for a folder; IganError otherwise.

    A folder is a path without a suffix, an existing folder, or any path ending in ``/``.
    """
    path = Path(out)
    if out.endswith(("/", os.sep)) or path.is_dir() or not path.suffix:
        return "folder"
    if path.suffix.lower() in IMAGE_FORMATS:
        return "grid"
    raise IganError(f"--out {out}: {path.suffix} is not an image format sample.py writes "
                    f"({', '.join(IMAGE_FORMATS)}); for a folder of that name, end it with /")


def write_grid(batches: Iterable[torch.Tensor], out: str | Path) -> Path:
    """One grid image of all the batches' images, kept as bytes until drawn; format from the suffix."""
    pixels = torch.cat([grid_pixels(images) for images in batches])
    return save_image(grid_array(pixels), out)


def write_folder(batches: Iterable[torch.Tensor], out: str | Path) -> list[Path]:
    """One PNG per image, ``<out>/00000.png`` on, written batch by batch."""
    out, paths = Path(out), []
    for images in batches:
        for img in images:
            paths.append(save_image(grid_array(img[None], nrow=1, padding=0), out / f"{len(paths):05d}.png"))
    return paths

