#!/usr/bin/env python
"""Generate images from a checkpoint: ``python sample.py --ckpt runs/<run>/checkpoints/last.ckpt``.

``--out x.png`` writes one grid, ``--out DIR`` one PNG per image. The same ``--seed`` gives
byte-identical files. Checkpoints are loaded with ``weights_only=True`` (no pickled code runs).
"""

from __future__ import annotations

import argparse
import sys

import torch

from igan.errors import IganError
from igan.sampling import generate, load_generator, write_images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", required=True, help="checkpoint written by train_gan.py")
    parser.add_argument("--num", type=int, default=64, help="number of images (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument("--out", default="samples/sample.png", help="a .png grid path or a folder (default samples/sample.png)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    args = parser.parse_args(argv)
    if args.num < 1:
        parser.error(f"--num must be >= 1, got {args.num}")
    try:
        if args.device.startswith("cuda") and not torch.cuda.is_available():
            raise IganError("--device cuda requested but no CUDA device is available")
        generator = load_generator(args.ckpt).to(args.device)
        paths = write_images(generate(generator, args.num, args.seed), args.out)
    except IganError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # an output path that cannot be written
        print(f"error: cannot write {args.out}: {err.strerror or err}", file=sys.stderr)
        return 2
    where = paths[0] if len(paths) == 1 else f"{len(paths)} images in {paths[0].parent}"
    print(f"wrote {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
