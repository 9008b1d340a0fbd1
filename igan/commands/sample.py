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
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterable, Iterator

import torch
from tqdm import tqdm

from igan.errors import ArgumentParser, IganError, UsageError
from igan.sampling import generate_batches, load_generator, output_kind, write_folder, write_grid

#: The most images one grid holds (a 64 x 64 grid: 8192 px wide at 128 px per image).
MAX_GRID = 4096


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
    parser.add_argument("--num", type=int, default=64, help="number of images (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
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
        if not args.overwrite:
            refuse_existing(args.out, args.num, grid=args.chars is not None or output_kind(args.out) == "grid")
        if args.device.startswith("cuda") and not torch.cuda.is_available():
            raise IganError("--device cuda requested but no CUDA device is available")
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
        batches = generate_batches(generator, args.num, args.seed, args.batch_size)
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
