"""Generate images from a checkpoint: ``igan sample --ckpt runs/<run>/checkpoints/last.ckpt`` (or ``sample.py``).

``--out x.png`` (or .jpg, .jpeg, .webp) writes one grid of at most 4096 images in that format;
``--out DIR`` (a path without a suffix, an existing folder, or any path ending in /) one PNG per
image, generated and written batch by batch, so any --num runs in bounded memory. The same
``--seed`` gives byte-identical files. Checkpoints are loaded with ``weights_only=True`` (no
pickled code runs).

A translation checkpoint (``configs/translate/*.yaml``) translates characters instead:
``--chars 永字八法 --style "LXGW WenKai" --out x.png`` renders them in the run's source font and
writes one grid: the source row, then per style the translated row and the true row (white where
that style's font lacks the character). ``--style all`` gives a row pair per style.

``--truncation T`` draws z from the standard normal truncated to |z_i| <= T (values outside are
resampled, not clipped): less variety, more typical images. ``--interpolate A B --frames N``
generates the path from seed A's z (that of the first image ``--seed A`` draws) to seed B's,
spherical (``--path slerp``, the default) or linear, as one row (``--out x.png``, .jpg, .jpeg) or
an animation (``--out x.gif`` or ``x.webp``, lossless).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Iterable, Iterator

import torch
from tqdm import tqdm

from igan.errors import ArgumentParser, IganError, UsageError
from igan.io.images import grid_array, save_image
from igan.sampling import (animation_kind, generate_batches, interpolation_frames, load_generator, output_kind,
                           write_animation, write_folder, write_grid)

#: The most images one grid holds (a 64 x 64 grid: 8192 px wide at 128 px per image).
MAX_GRID = 4096
#: The most frames of an interpolation (a row of 256 images at 64 px is 16,898 px wide).
MAX_FRAMES = 256
#: The smallest --truncation: below it almost every draw is rejected.
MIN_TRUNCATION = 0.01
ROW_SUFFIXES = (".png", ".jpg", ".jpeg")


def counting(batches: Iterable[torch.Tensor], bar: tqdm) -> Iterator[torch.Tensor]:
    for images in batches:
        yield images
        bar.update(len(images))  # once written


def load_unconditional(ckpt: str) -> torch.nn.Module:
    """The generator of an unconditional checkpoint; a translation checkpoint is told to give --chars."""
    try:
        return load_generator(ckpt)
    except IganError:
        from igan.io.checkpoint_file import load_checkpoint_file
        from igan.translation.sampling import TASK, checkpoint_task

        if checkpoint_task(load_checkpoint_file(ckpt)) == TASK:
            raise IganError(f"{ckpt} is a translation checkpoint: give the characters to translate with --chars "
                            "(and --style NAME or all)") from None
        raise


def translate_chars(args: argparse.Namespace) -> int:
    """The --chars path: one grid of the characters in the style(s) asked for."""
    # Imported here: the translation package pulls in Lightning, which the unconditional path never needs.
    from igan.translation.sampling import load_translator, parse_chars, style_ids, write_translation_grid

    if output_kind(args.out) != "grid":
        raise IganError(f"--out {args.out}: --chars writes one grid; give an image file (.png, .jpg, .jpeg or .webp)")
    chars = parse_chars(args.chars)
    translators = [load_translator(ckpt).to(args.device) for ckpt in args.ckpt]
    styles = style_ids(translators[0], args.style or "all")
    if len(chars) * (1 + (1 + len(translators)) * len(styles)) > MAX_GRID:
        raise IganError(f"--chars: {len(chars)} characters make more than {MAX_GRID} images in one grid")
    path = write_translation_grid(translators, chars, styles, args.out)
    print(f"wrote {path}")
    return 0


def check_truncation(truncation: float | None) -> None:
    if truncation is not None and not truncation >= MIN_TRUNCATION:
        raise IganError(f"--truncation must be at least {MIN_TRUNCATION} (|z_i| <= T), got {truncation}")


def check_interpolation(args: argparse.Namespace) -> None:
    """IganError for options that do not go with --interpolate, or go only with it; fills its defaults."""
    if args.interpolate is None:
        given = [flag for flag, value in (("--frames", args.frames), ("--path", args.path)) if value is not None]
        if given:
            raise IganError(f"{given[0]} goes with --interpolate SEED_A SEED_B")
        return
    clashes = [flag for flag, value in (("--chars", args.chars), ("--style", args.style), ("--num", args.num),
                                        ("--seed", args.seed)) if value is not None]
    if clashes:
        raise IganError(f"{clashes[0]} does not go with --interpolate (the seeds are its two values, "
                        "the images its --frames)")
    args.frames = 8 if args.frames is None else args.frames
    args.path = args.path or "slerp"
    seed_a, seed_b = args.interpolate
    if seed_a == seed_b:
        raise IganError(f"--interpolate needs two different seeds, got {seed_a} twice")
    if not 2 <= args.frames <= MAX_FRAMES:
        raise IganError(f"--frames must be from 2 to {MAX_FRAMES}, got {args.frames}")
    suffix = Path(args.out).suffix.lower()
    folder = args.out.endswith(("/", os.sep)) or Path(args.out).is_dir()
    if folder or not (animation_kind(args.out) or suffix in ROW_SUFFIXES):
        raise IganError(f"--out {args.out}: --interpolate writes a row ({', '.join(ROW_SUFFIXES)}) or an "
                        "animation (.gif, .webp)")


def interpolate(args: argparse.Namespace) -> int:
    """The --interpolate path: one row or one animation of the frames from seed A to seed B."""
    if len(args.ckpt) > 1:
        raise IganError("--ckpt takes one checkpoint with --interpolate")
    generator = load_unconditional(args.ckpt[0]).to(args.device)
    seed_a, seed_b = args.interpolate
    images = interpolation_frames(generator, seed_a, seed_b, args.frames, args.path, args.truncation)
    if animation_kind(args.out):
        path = write_animation(images, args.out)
    else:
        path = save_image(grid_array(images, nrow=len(images)), args.out)
    print(f"wrote {path}")
    return 0


def refuse_existing(out: str, num: int, grid: bool) -> None:
    """Stop before generating when ``out`` would replace a file: samples of another run are not lost."""
    if grid:
        taken = [Path(out)] if Path(out).exists() else []
    else:
        taken = [p for p in (Path(out) / f"{i:05d}.png" for i in range(num)) if p.exists()]
    if taken:
        what = str(taken[0]) if len(taken) == 1 else f"{len(taken)} images in {out} ({taken[0].name}, ...)"
        raise IganError(f"--out {what} exists; pass --overwrite to replace it, or choose another --out")


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="igan sample", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", required=True, nargs="+",
                        help="checkpoint written by igan train; with --chars, several translation checkpoints "
                             "give one row each, side by side")
    parser.add_argument("--num", type=int, default=None, help="number of images (default 64)")
    parser.add_argument("--seed", type=int, default=None, help="noise seed (default 0)")
    parser.add_argument("--truncation", type=float, default=None, metavar="T",
                        help="draw z from the standard normal truncated to |z_i| <= T, resampling the values "
                             "outside (e.g. 0.7; default off: the plain normal)")
    parser.add_argument("--interpolate", type=int, nargs=2, default=None, metavar=("SEED_A", "SEED_B"),
                        help="the images along the path from the z of seed A's first image to seed B's, as one "
                             "row (--out .png, .jpg, .jpeg) or an animation (--out .gif or .webp)")
    parser.add_argument("--frames", type=int, default=None,
                        help="with --interpolate: the number of images, both ends included (default 8)")
    parser.add_argument("--path", choices=("slerp", "lerp"), default=None,
                        help="with --interpolate: spherical (slerp, the default) or linear (lerp) interpolation")
    parser.add_argument("--out", default="samples/sample.png",
                        help="a grid file (.png, .jpg, .jpeg or .webp: that format) or a folder for one PNG per "
                             "image (a path without a suffix, or ending in /) (default samples/sample.png)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --out grid, or image files already in an --out folder")
    parser.add_argument("--batch_size", type=int, default=256, help="images generated at a time (default 256)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--chars", default=None,
                        help="translation checkpoints only: the characters to translate, e.g. 永字八法 "
                             "(rendered in the checkpoint's source font; one grid column each)")
    parser.add_argument("--style", default=None,
                        help="with --chars: the style (target font) to translate into, by its font name as "
                             "trained (e.g. 'LXGW WenKai'), or 'all' for a row pair per style (default all)")
    try:
        args = parser.parse_args(argv)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        check_interpolation(args)
        if args.truncation is not None and args.chars is not None:
            raise IganError("--truncation goes with noise, not with --chars (a translation draws none)")
        check_truncation(args.truncation)
        args.num = 64 if args.num is None else args.num
        args.seed = 0 if args.seed is None else args.seed
        if not args.overwrite:
            single = args.chars is not None or args.interpolate is not None or output_kind(args.out) == "grid"
            refuse_existing(args.out, args.num, grid=single)
        if args.device.startswith("cuda") and not torch.cuda.is_available():
            raise IganError("--device cuda requested but no CUDA device is available")
        if args.interpolate is not None:
            return interpolate(args)
        if args.chars is not None:
            return translate_chars(args)
        if args.style is not None:
            raise IganError("--style goes with --chars (the characters to translate)")
        if len(args.ckpt) > 1:
            raise IganError("--ckpt takes one checkpoint, or several translation checkpoints with --chars")
        (args.ckpt,) = args.ckpt
        if args.num < 1:
            raise IganError(f"--num must be >= 1, got {args.num}")
        if args.batch_size < 1:
            raise IganError(f"--batch_size must be >= 1, got {args.batch_size}")
        kind = output_kind(args.out)
        if kind == "grid" and args.num > MAX_GRID:
            raise IganError(f"--num {args.num} is too many for one grid (at most {MAX_GRID}); "
                            f"write them to a folder instead (--out without an image suffix)")
        generator = load_unconditional(args.ckpt).to(args.device)
        batches = generate_batches(generator, args.num, args.seed, args.batch_size, args.truncation)
        with tqdm(total=args.num, unit="img", desc="generating", file=sys.stderr, leave=False) as bar:
            counted = counting(batches, bar)
            paths = [write_grid(counted, args.out)] if kind == "grid" else write_folder(counted, args.out)
    except IganError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # an output path that cannot be written
        print(f"error: cannot write {err.filename or args.out}: {err.strerror or err}", file=sys.stderr)
        return 2
    where = paths[0] if len(paths) == 1 else f"{len(paths)} images in {paths[0].parent}"
    print(f"wrote {where}")
    return 0
