"""``igan COMMAND [ARGS...]`` (or ``python -m igan COMMAND``): every command of the project.

Each command keeps its own parser (LightningCLI for ``train``, argparse for the others) and gets
the arguments after its name; ``igan COMMAND --help`` shows them. A command is one row of
:data:`COMMANDS`: its name, the ``module:function`` that runs it (imported only when chosen, so
``igan --help`` starts without torch), and the line ``igan --help`` shows for it.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from typing import Optional

#: name -> (``module:function`` taking the argument list and returning the exit code, one-line description)
COMMANDS = {
    "train": ("igan.commands.train:main", "train a GAN (or a translation) from a config; also train_gan.py"),
    "sample": ("igan.commands.sample:main", "images from a checkpoint, or translated characters; also sample.py"),
    "study": ("igan.study.cli:main", "train every config with every seed under one budget, then compare them"),
    "compare": ("igan.report.compare:main", "montage, curves, table and verdict of finished runs"),
    "metrics": ("igan.metrics.cli:main", "FID, KID, precision, recall, density and coverage of two image folders"),
    "summary": ("igan.report.summary:main", "parameters and FLOPs of G and D per config"),
    "dashboard": ("igan.report.dashboard:main", "the W&B workspace comparing a study's models"),
    "app": ("igan.app.cli:main", "the interactive page: generate, interpolate, translate, kernels (python -m igan.app)"),
    "font": ("igan.font.cli:main", "a translation checkpoint's hand as a TrueType font (.ttf)"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {about}" for name, (_, about) in COMMANDS.items())
    return (f"usage: igan COMMAND [ARGS...]\n\nTrain, sample, measure and compare GANs (DCGAN, SAGAN, IDCGAN) and "
            f"glyph translation.\n\ncommands:\n{rows}\n\n`igan COMMAND --help` shows the options of one command.\n")


def command(name: str):
    """The function that runs command ``name``."""
    module, function = COMMANDS[name][0].split(":")
    return getattr(importlib.import_module(module), function)


def main(argv: Optional[list[str]] = None) -> int:
    """Run the command named first in ``argv`` (default: the command line) with the arguments after it."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        print(usage(), end="", file=sys.stderr)
        return 2
    name, rest = argv[0], argv[1:]
    if name in ("-h", "--help", "help"):
        print(usage(), end="")
        return 0
    if name == "--version":
        from igan import __version__

        print(f"igan {__version__}")
        return 0
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        print(f"error: unknown command {name!r}; {hint}the commands are {', '.join(COMMANDS)} (see igan --help)",
              file=sys.stderr)
        return 2
    return command(name)(rest)


if __name__ == "__main__":
    sys.exit(main())
