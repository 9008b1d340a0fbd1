"""``python -m igan.app --ckpt A.ckpt [B.ckpt ...]`` (or ``igan app``): the page on localhost.

Offline by construction: Gradio's analytics are off, no share link is made, nothing renders on
a server, and the theme's fonts are Gradio's own files (no font server). A checkpoint that cannot be loaded stops
the command with one ``error:`` line before the server starts.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

from igan.errors import ArgumentParser, IganError, UsageError


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="igan app", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", required=True, nargs="+",
                   help="checkpoints written by igan train: GAN ones feed Generate, Interpolate and (involution "
                        "models) Kernels; translation ones feed Translate")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port to listen on (default 7860)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    return p


def start(ckpts: list[str], host: str = "127.0.0.1", port: int = 7860, device: str = "cpu", block: bool = True):
    """Load the checkpoints, build the page and serve it; returns ``(page, url)`` (when ``block`` is False)."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported: it reads this at import
    from igan.app.models import Models

    models = Models.load(ckpts, device)
    try:
        from igan.app.page import build, launch
    except ImportError as err:
        raise IganError(f"the page needs Gradio ({err}); install igan[app]") from None
    out_dir = Path(tempfile.mkdtemp(prefix="igan-app-"))
    atexit.register(shutil.rmtree, out_dir, ignore_errors=True)
    page = build(models, out_dir)
    try:
        url = launch(page, host, port, block)
    except OSError as err:  # Gradio's "Cannot find empty port", a bind refused
        raise IganError(f"cannot serve on {host}:{port}: {err}") from None
    return page, url


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
        if args.device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise IganError("--device cuda requested but no CUDA device is available")
        start(args.ckpt, args.host, args.port, args.device, block=True)
    except (IganError, UsageError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
