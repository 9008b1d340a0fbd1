"""What each tab of the page does, as plain functions: inputs in, image files out.

No Gradio here: the page (:mod:`igan.app.page`) wraps these, and tests call them directly. Bad
input raises :class:`~igan.errors.IganError` with a message meant for the page. Files go under
``out_dir`` with names that say what they hold; the same arguments give byte-identical files,
the same as ``igan sample`` writes for them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Optional

from igan.app.models import Models
from igan.commands.sample import MAX_FRAMES, MIN_TRUNCATION
from igan.errors import IganError
from igan.font.charsets import unique_chars
from igan.io.images import grid_array, save_image
from igan.noise import fixed_noise
from igan.sampling import generate_batches, interpolation_frames, write_animation, write_grid
from igan.training.kernel_maps import generate_with_kernel_maps, involution_layers, kernel_map_tiles
from igan.translation.sampling import render, style_ids, write_translation_grid

#: The largest grid of the Generate tab (side x side images).
MAX_SIDE = 16
#: The most characters one translation grid holds.
MAX_CHARS = 64
#: The most images the Kernels tab draws beside their maps.
MAX_KERNEL_IMAGES = 8
#: Seeds are 63-bit: what :func:`igan.noise.derived_seed` and torch's generators take.
MAX_SEED = (1 << 63) - 1


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-") or "model"


def as_seed(value, what: str = "seed") -> int:
    """An integer seed in [0, 2**63); floats with no fraction (a slider's 3.0) count as integers."""
    try:
        seed = int(value)
        whole = float(value).is_integer()
    except (TypeError, ValueError, OverflowError):
        seed, whole = -1, False
    if not whole or not 0 <= seed <= MAX_SEED:
        raise IganError(f"the {what} must be a whole number from 0 to {MAX_SEED}, got {value!r}")
    return seed


def as_truncation(value) -> Optional[float]:
    """None (off) for 0 or empty, else a truncation of at least :data:`MIN_TRUNCATION`."""
    if value in (None, "", 0):
        return None
    value = float(value)
    if not value >= MIN_TRUNCATION:
        raise IganError(f"the truncation must be 0 (off) or at least {MIN_TRUNCATION}, got {value}")
    return value


def suffix(truncation: Optional[float]) -> str:
    return "" if truncation is None else f"-t{truncation:g}"


def generate(models: Models, name: str, seed, truncation, side, out_dir: Path) -> Path:
    """A side x side grid of ``name``'s images at ``seed``: the grid of ``igan sample --num side**2 --seed``."""
    generator, seed, truncation = models.gan(name), as_seed(seed), as_truncation(truncation)
    side = int(side)
    if not 1 <= side <= MAX_SIDE:
        raise IganError(f"the grid size must be from 1 to {MAX_SIDE}, got {side}")
    out = Path(out_dir) / f"{slug(name)}-seed{seed}{suffix(truncation)}-{side}x{side}.png"
    return write_grid(generate_batches(generator, side * side, seed, truncation=truncation), out)


def interpolate(models: Models, name: str, seed_a, seed_b, frames, path: str, truncation,
                out_dir: Path) -> tuple[Path, Path]:
    """The row (PNG) and the animation (GIF) from seed A's first image to seed B's, as ``igan sample --interpolate``."""
    generator, truncation = models.gan(name), as_truncation(truncation)
    seed_a, seed_b = as_seed(seed_a, "seed A"), as_seed(seed_b, "seed B")
    frames = int(frames)
    if seed_a == seed_b:
        raise IganError(f"seed A and seed B must differ, both are {seed_a}")
    if not 2 <= frames <= MAX_FRAMES:
        raise IganError(f"the frames must be from 2 to {MAX_FRAMES}, got {frames}")
    if path not in ("slerp", "lerp"):
        raise IganError(f"the path is slerp or lerp, got {path!r}")
    images = interpolation_frames(generator, seed_a, seed_b, frames, path, truncation)
    stem = Path(out_dir) / f"{slug(name)}-{path}-{seed_a}-{seed_b}{suffix(truncation)}-{frames}f"
    row = save_image(grid_array(images, nrow=frames), stem.with_suffix(".png"))
    return row, write_animation(images, stem.with_suffix(".gif"))


def characters(text: str) -> str:
    chars = unique_chars(text or "")
    if not chars:
        raise IganError("type the characters to translate: the text is empty")
    if len(chars) > MAX_CHARS:
        raise IganError(f"{len(chars)} different characters: at most {MAX_CHARS} fit one grid")
    return chars


def one_style(models: Models, names: list[str], style: str) -> list[int]:
    first = models.translator(names[0])
    try:
        return style_ids(first, style or "")
    except IganError as err:
        raise IganError(str(err).replace("--style ", "the style ", 1)) from None


def translate(models: Models, names: list[str] | str, text: str, style: str, out_dir: Path) -> tuple[Path, str]:
    """The grid of ``igan sample --chars``: the source row, then per style each checkpoint's row and the
    true row, and a message naming the characters the source font lacks (left out of the grid)."""
    names = [names] if isinstance(names, str) else list(names or [])
    if not names:
        raise IganError("choose at least one translation checkpoint")
    translators = [models.translator(n) for n in names]
    chars, styles = characters(text), one_style(models, names, style)
    first = translators[0]
    sources = render(first.source_font, chars, first.image_size, first.margin)
    missing = "".join(c for c in chars if c not in sources)
    kept = "".join(c for c in chars if c in sources)
    lacks = f"the source font {first.source_font!r} lacks {missing} ({len(missing)} of {len(chars)} characters)"
    if not kept:
        raise IganError(lacks)
    label = "all" if len(styles) > 1 else first.styles[styles[0]]
    out = Path(out_dir) / f"{'+'.join(map(slug, names))}-{slug(label)}-{len(kept)}chars.png"
    path = write_translation_grid(translators, kept, styles, out)
    message = f"translated {len(kept)} characters into {label}"
    return path, message + (f"; {lacks}: not in the grid" if missing else "")


def font(models: Models, name: str, text: str, style: str, out_dir: Path,
         progress: Optional[Callable[[int, int], object]] = None) -> Path:
    """A TrueType font of the characters in ``style`` as checkpoint ``name`` draws them
    (:func:`igan.font.build.write_font`); the characters the source font lacks are left out."""
    try:
        from igan.font.build import write_font  # the font extra (fontTools, vtracer), only when asked for
    except ImportError as err:
        raise IganError(f"the font export is not available here ({err}); install igan[font]") from None
    translator, chars = models.translator(name), characters(text)
    styles = one_style(models, [name], style)
    if len(styles) != 1:
        raise IganError("a font holds one style: choose one, not all")
    style_name = translator.styles[styles[0]]
    kept = "".join(c for c in chars if c in render(translator.source_font, chars, translator.image_size,
                                                   translator.margin))
    if not kept:
        raise IganError(f"the source font {translator.source_font!r} lacks every character of the text")
    out = Path(out_dir) / f"{slug(name)}-{slug(style_name)}-{len(kept)}chars.ttf"
    return Path(write_font(translator, style_name, kept, out, progress, model_name=name))


def kernels(models: Models, name: str, seed, count, out_dir: Path) -> Path:
    """Rows of ``[image | one kernel map per involution layer]`` for the first ``count`` images of ``seed``
    (the maps of the training run's ``kernels_epoch_*.png``, one image per row)."""
    generator, seed, count = models.gan(name), as_seed(seed), int(count)
    layers = len(involution_layers(generator))
    if not layers:
        raise IganError(f"{name} has no involution layers: the Kernels tab takes an involution model "
                        f"({', '.join(models.involution_gans) or 'none was given'})")
    if not 1 <= count <= MAX_KERNEL_IMAGES:
        raise IganError(f"the number of images must be from 1 to {MAX_KERNEL_IMAGES}, got {count}")
    z = fixed_noise(max(count, 16), generator.latent_dim, seed)[:count]  # the first images of `igan sample --seed`
    device = next(generator.parameters()).device
    tiles = kernel_map_tiles(*generate_with_kernel_maps(generator, z.to(device)))
    out = Path(out_dir) / f"{slug(name)}-kernels-seed{seed}-{count}.png"
    return save_image(grid_array(tiles, nrow=1 + layers), out)
