"""``trainer.limit_*_batches=1`` means one batch when written as an integer, all batches as ``1.0``.

Lightning reads an int limit as a count of batches and a float as a fraction of the epoch, but
LightningCLI's parser reads the ``1`` of ``--trainer.limit_train_batches=1`` (or of a config file)
as the float 1.0, all batches, and dumps the resolved config that way too. The spelling survives
only in the command line and the config files, so this module reads them again: IganCLI calls
:func:`as_written` before the trainer is built, passes the result to the trainer, and the saved
``config.yaml`` keeps it (:func:`keep_in_dump`). Only a limit equal to 1 is ambiguous; other values
are left to Lightning.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

#: Trainer arguments where Lightning reads an int as a count of batches and a float as a fraction.
BATCH_LIMITS = ("limit_train_batches", "limit_val_batches", "limit_test_batches", "limit_predict_batches")


def raw_settings(args: list[str], keys: tuple[str, ...]) -> dict[str, object]:
    """The value each ``trainer.<key>`` was last given as written: a command-line string or a YAML scalar.

    ``--config`` files are read in order with the command line, as LightningCLI applies them.
    """
    found: dict[str, object] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        name, equals, value = arg.partition("=")
        wanted = name == "--config" or (name.startswith("--trainer.") and name[len("--trainer."):] in keys)
        if wanted and not equals and i + 1 < len(args):  # "--key value"
            value, i = args[i + 1], i + 1
        if name == "--config":
            try:
                trainer = (yaml.safe_load(Path(value).read_text()) or {}).get("trainer") or {}
            except (OSError, yaml.YAMLError, AttributeError):
                trainer = {}
            found.update({k: trainer[k] for k in keys if isinstance(trainer, dict) and k in trainer})
        elif name.startswith("--trainer.") and name[len("--trainer."):] in keys:
            found[name[len("--trainer."):]] = value
        i += 1
    return found


def written_as_int(value: object) -> bool:
    """Whether a command-line string or a YAML scalar spells an integer (``1``, not ``1.0`` or ``true``)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.strip().lstrip("+").isdigit()


def as_written(args: list[str], trainer_config: dict, announce: bool = True) -> dict[str, int | float]:
    """The limits equal to 1 in ``trainer_config``, typed as ``args`` wrote them (1 or 1.0).

    With ``announce``, one ``note:`` line per limit on stderr says how it was read and how to
    write the other meaning.
    """
    raw = raw_settings(args, BATCH_LIMITS)
    limits: dict[str, int | float] = {}
    for key in BATCH_LIMITS:
        if trainer_config.get(key) != 1 or key not in raw:
            continue
        one = written_as_int(raw[key])
        limits[key] = 1 if one else 1.0
        if announce:
            print(f"note: trainer.{key}={raw[key]} read as "
                  + ("one batch per epoch; write 1.0 for all batches" if one
                     else "all batches (the fraction 1.0); write 1 for one batch per epoch"),
                  file=sys.stderr, flush=True)
    return limits


def keep_in_dump(config_text: str, limits: dict[str, int | float]) -> str:
    """A dumped config (YAML) with the limits as written: the dump would turn 1 into 1.0."""
    if not limits:
        return config_text
    config = yaml.safe_load(config_text)
    config["trainer"].update(limits)
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
