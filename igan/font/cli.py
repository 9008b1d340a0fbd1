"""``python -m igan.font`` (or ``igan font``): write a translation checkpoint's hand as a TrueType font.

  igan font --ckpt translate.ckpt --style "LXGW WenKai" --chars 永字八法 --out hand.ttf
  igan font --ckpt translate.ckpt --style "LXGW WenKai" --gb2312-level1 --out hand.ttf

Each character is rendered in the run's source font, translated into the style, upsampled,
thresholded, traced to outlines (vtracer) and written as a TrueType glyph (fontTools). See
docs/guide/font.md.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import torch
from fontTools.ttLib import TTFont
from tqdm import tqdm

from igan.data.calligraphy import gb2312_level1
from igan.errors import ArgumentParser, IganError, UsageError
from igan.font.build import write_font
from igan.font.charsets import read_chars_file, unique_chars
from igan.font.preview import write_preview
from igan.font.trace import MODES
from igan.sampling import checkpoint_name
from igan.translation.sampling import load_translator


def parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="igan font", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", required=True, help="a translation checkpoint written by igan train")
    p.add_argument("--style", required=True, help="the style (target font) as trained, e.g. 'LXGW WenKai'")
    chars = p.add_mutually_exclusive_group(required=True)
    chars.add_argument("--chars", help="the characters, e.g. 永字八法 (whitespace and repeats ignored)")
    chars.add_argument("--chars-file", help="a UTF-8 text file of the characters (any layout)")
    chars.add_argument("--gb2312-level1", action="store_true", help="the 3,755 level-1 hanzi of GB2312")
    p.add_argument("--out", required=True, help="the font file to write (.ttf)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out (and --preview)")
    p.add_argument("--preview", default=None, metavar="PNG",
                   help="also write an image of the characters (the first 16) set in the written font")
    p.add_argument("--skip-missing", action="store_true",
                   help="leave out, with a warning naming them, characters the source font lacks (default: an error)")
    p.add_argument("--mode", choices=MODES, default="spline",
                   help="the traced outlines: smooth curves (spline, the default) or straight segments (polygon)")
    p.add_argument("--batch-size", type=int, default=64, help="characters translated at a time (default 64)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    return p


def chosen_chars(args: argparse.Namespace) -> str:
    if args.gb2312_level1:
        return gb2312_level1()
    text = read_chars_file(args.chars_file) if args.chars_file is not None else unique_chars(args.chars)
    if not text:
        raise IganError(f"{'--chars-file ' + args.chars_file if args.chars_file else '--chars'} holds no characters")
    return text


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        out = Path(args.out)
        if out.suffix.lower() != ".ttf":
            raise IganError(f"--out {out} must end in .ttf (a TrueType font)")
        if out.exists() and not args.overwrite:
            raise IganError(f"--out {out} exists; pass --overwrite to replace it")
        if args.preview is not None and Path(args.preview).exists() and not args.overwrite:
            raise IganError(f"--preview {args.preview} exists; pass --overwrite to replace it")
        if args.batch_size < 1:
            raise IganError(f"--batch-size must be >= 1, got {args.batch_size}")
        chars = chosen_chars(args)
        if args.device.startswith("cuda") and not torch.cuda.is_available():
            raise IganError("--device cuda requested but no CUDA device is available")
        translator = load_translator(args.ckpt).to(args.device)
        bar: tqdm | None = None

        def progress(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:  # opened once the request is accepted: a refused one shows no bar
                bar = tqdm(total=total, unit="char", desc="tracing", file=sys.stderr, leave=False)
            bar.update(done - bar.n)

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                path = write_font(translator, args.style, chars, out, progress, model_name=checkpoint_name(args.ckpt),
                                  skip_missing=args.skip_missing, batch_size=args.batch_size, mode=args.mode)
            finally:
                if bar is not None:
                    bar.close()
        for warning in caught:  # ours, as one line each; other libraries' warnings stay quiet
            if "igan" in Path(warning.filename).parts:
                print(f"warning: {warning.message}", file=sys.stderr)
        count = bar.total if bar is not None else 0
        preview = None
        if args.preview is not None:  # the characters the font holds, as --skip-missing may have left some out
            kept = "".join(c for c in chars if ord(c) in TTFont(path).getBestCmap())
            preview = write_preview(path, kept, args.preview)
    except IganError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {path} ({count} characters)")
    if preview is not None:
        print(f"wrote {preview}")
    return 0
