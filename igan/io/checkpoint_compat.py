"""Every concession to checkpoints written by earlier versions of igan, in one place.

Users keep checkpoints from the first weeks of the project; they must load, sample and resume as
what they hold. Two older layouts are served, both of the unconditional GAN (translation
checkpoints came later and have only today's layout):

- **Specs without constructor arguments added later.** A network's spec records every argument
  of its constructor (:func:`igan.models.spec.spec_of`), so a missing one means a checkpoint
  written before that argument existed; it was built with the value listed in
  :data:`LEGACY_INIT_ARGS`, not with today's default. SAGAN's attention was the full-width block
  (``attention_pool=1``, ``attention_value_ratio=1``) before the official code's pooled block
  became the default. :func:`upgraded_spec` fills such arguments in; :func:`legacy_overrides`
  names them as command-line overrides for a resume, whose run config does not list them.
- **The epoch's loss sums in ExactResume's state.** Today :class:`igan.gan.GAN` saves the loss sums
  of the epoch in progress under ``checkpoint["igan"]["epoch_sums"]``; before, the ExactResume
  callback held them as ``epoch_sums`` / ``epoch_counts``, and only in checkpoints written
  mid-epoch. :func:`old_epoch_sums` reads them from there.

A new constructor argument with a default that changes the network: add the value old checkpoints
were built with to :data:`LEGACY_INIT_ARGS` (docs/guide/adding_a_model.md).
"""

from __future__ import annotations

from typing import Any

from igan.errors import IganError

#: Class name -> constructor arguments added after checkpoints had been written, with the values
#: those checkpoints were built with.
LEGACY_INIT_ARGS: dict[str, dict[str, Any]] = {
    "SAGANGenerator": {"attention_pool": 1, "attention_value_ratio": 1},
    "SAGANDiscriminator": {"attention_pool": 1, "attention_value_ratio": 1},
}


def _legacy_args(class_path: Any) -> dict[str, Any]:
    return LEGACY_INIT_ARGS.get(str(class_path).rpartition(".")[2], {})


def upgraded_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with the arguments it predates filled in as they were when it was saved.

    Only for specs read from checkpoints; a hand-written spec gets today's defaults from
    :func:`igan.models.spec.build_from_spec`."""
    try:
        class_path, init_args = spec["class_path"], dict(spec.get("init_args") or {})
    except (TypeError, KeyError, AttributeError) as err:
        raise IganError(f"not a network spec (needs class_path and init_args): {spec!r}") from err
    return {"class_path": class_path, "init_args": {**_legacy_args(class_path), **init_args}}


def upgrade_network_specs(hparams: dict[str, Any]) -> None:
    """Upgrade, in place, the generator and discriminator specs of a GAN checkpoint's hyperparameters."""
    for role in ("generator", "discriminator"):
        if isinstance(hparams.get(role), dict):
            hparams[role] = upgraded_spec(hparams[role])


def legacy_overrides(spec: dict[str, Any], role: str) -> list[str]:
    """The ``train_gan.py`` overrides that give a run the arguments a saved spec predates (values
    as :func:`upgraded_spec` fills them in), e.g. ``--model.generator.init_args.attention_pool=1``."""
    init_args = spec.get("init_args") or {}
    legacy = _legacy_args(spec.get("class_path", ""))
    return [f"--model.{role}.init_args.{key}={value}" for key, value in legacy.items() if key not in init_args]


def old_epoch_sums(checkpoint: dict) -> dict[str, dict]:
    """The epoch's loss sums and counts of a checkpoint written before the GAN module saved them,
    as today's ``{"sums": ..., "counts": ...}``; empty when it holds none (written at an epoch's end)."""
    old = (checkpoint.get("callbacks") or {}).get("ExactResume") or {}
    return {"sums": old.get("epoch_sums", {}), "counts": old.get("epoch_counts", {})}
