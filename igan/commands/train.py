"""``igan train`` (and ``train_gan.py``): train a GAN, or a translation for ``task: translation`` configs.

Every config field can be overridden, e.g. ``--trainer.max_epochs=5 --data.batch_size=32``;
``--print_config`` shows the resolved configuration. A config with ``task: translation`` at its
top level (``configs/translate/*.yaml``) trains printed-to-calligraphy translation instead.
``igan study`` launches its runs through this command, so a study takes either kind of config.
"""

from __future__ import annotations

import sys
import warnings


def config_paths(argv: list[str]) -> list[str]:
    """The files named by ``--config X`` / ``--config=X`` in ``argv``."""
    paths = []
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            paths.append(argv[i + 1])
        elif arg.startswith("--config="):
            paths.append(arg.split("=", 1)[1])
    return paths


def main(argv: list[str] | None = None) -> int:
    """Dispatch on the config's ``task``; ``argv`` None reads the command line, as LightningCLI does."""
    from igan.translation.cli import is_translation_config

    if any(is_translation_config(path) for path in config_paths(sys.argv[1:] if argv is None else argv)):
        from igan.translation.cli import main as train
    else:
        from igan.training.cli import main as train
    with warnings.catch_warnings():
        # `igan train ...` hands its own arguments on while sys.argv keeps the command name, which DDP's
        # launcher re-runs for the other ranks; LightningCLI warns about exactly that pairing.
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended to run from within")
        return train(argv)
