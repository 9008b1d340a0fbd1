"""``python -m igan.train`` (and ``train_gan.py``): train a GAN, or a translation for ``task: translation`` configs.

Every config field can be overridden, e.g. ``--trainer.max_epochs=5 --data.batch_size=32``;
``--print_config`` shows the resolved configuration. A config with ``task: translation`` at its
top level (``configs/translate/*.yaml``) trains printed-to-calligraphy translation instead.
``igan.study`` launches its runs through this module, so a study takes either kind of config.
"""

from __future__ import annotations

import sys


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
        from igan.translation.cli import main as train_translation

        return train_translation(argv)
    from igan.training.cli import main as train_gan

    return train_gan(argv)


if __name__ == "__main__":
    sys.exit(main())
