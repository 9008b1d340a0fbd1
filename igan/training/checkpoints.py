"""Checkpoints that survive a kill at any instant and load without running pickled code.

- :class:`AtomicCheckpointIO` writes each checkpoint to a temporary file in the same folder and
  renames it over the old one (``os.replace`` is atomic on POSIX), so ``last.ckpt`` is always
  the previous complete checkpoint or the new complete one, never half of one; a failed write
  (disk full, read-only folder) leaves the previous file intact. It refuses to write weights or
  optimizer states that hold a NaN or an Inf (a diverged run keeps its last good checkpoint). It
  loads with ``torch.load(weights_only=True)``: a checkpoint crafted to run code is refused.
- :class:`LastCheckpoint` keeps ``last.ckpt`` after every epoch (Lightning's ``save_last`` only
  follows the numbered checkpoints); :class:`BestFIDCheckpoint` keeps ``best-fid.ckpt``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from igan.io.checkpoint_compat import legacy_overrides, upgraded_spec
from igan.io.checkpoint_file import load_checkpoint_file
from igan.errors import IganError
from igan.io.files import atomic_torch_save
from igan.training.guards import checkpoint_tensors, nonfinite_tensors


def check_resumable(ckpt: dict, path: Path, generator_spec: dict, discriminator_spec: dict, data: dict) -> None:
    """Refuse a checkpoint of another model or dataset with one message saying what differs."""
    hparams = ckpt.get("hyper_parameters") or {}
    if "generator" not in hparams or "state_dict" not in ckpt or "loops" not in ckpt:
        raise IganError(f"{path} is not an igan training checkpoint (no generator spec, weights or loop state)")
    raw = {role: hparams[role] if isinstance(hparams.get(role), dict) else {} for role in ("generator", "discriminator")}
    # A checkpoint older than some constructor arguments needs them given as they were then: its
    # run's config.yaml does not list them, so that config alone would build today's defaults.
    overrides = [o for role, spec in raw.items() if spec for o in legacy_overrides(spec, role)]
    hint = f" plus {' '.join(overrides)} (the checkpoint predates these arguments)" if overrides else ""
    for role, spec in (("generator", generator_spec), ("discriminator", discriminator_spec)):
        saved = upgraded_spec(raw[role]) if raw[role] else {}
        if saved.get("class_path") != spec["class_path"] or saved.get("init_args") != spec["init_args"]:
            raise IganError(
                f"{path} holds another {role} ({saved.get('class_path')} {saved.get('init_args')}) than this run "
                f"({spec['class_path']} {spec['init_args']}); resume with the config it was trained with{hint}"
            )
    saved_data = ckpt.get("datamodule_hyper_parameters") or {}
    for key in ("name", "image_size", "channels"):
        if key in saved_data and saved_data[key] != data.get(key):
            raise IganError(f"{path} was trained on data.{key}={saved_data[key]!r}, this run has {data.get(key)!r}")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's torch.save checkpoints, written atomically and loaded without pickled code."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Optional[Any] = None) -> None:
        path = Path(path)
        bad = nonfinite_tensors(checkpoint_tensors(checkpoint))
        if bad:
            shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
            raise IganError(f"refusing to write checkpoint {path}: non-finite values (NaN/Inf) in {shown}; "
                            "the previous one is kept")
        atomic_torch_save(checkpoint, path,
                          message="could not write checkpoint {path} ({cause}); the previous one is kept")

    def load_checkpoint(self, path, map_location: Optional[Any] = None, weights_only: Optional[bool] = None) -> dict:
        return load_checkpoint_file(path, map_location=map_location or "cpu")


class LastCheckpoint(ModelCheckpoint):
    """``<dirpath>/last.ckpt`` after every epoch (and every ``every_n_train_steps`` steps when set)."""

    def __init__(self, dirpath: str, every_n_train_steps: Optional[int] = None) -> None:
        super().__init__(
            dirpath=dirpath, filename=self.CHECKPOINT_NAME_LAST, save_top_k=1, enable_version_counter=False,
            every_n_epochs=None if every_n_train_steps else 1, every_n_train_steps=every_n_train_steps,
            save_on_train_epoch_end=True,
        )
        if every_n_train_steps:  # steps as well as epochs
            self._every_n_epochs = 1

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        # A step save at the epoch's last batch came before the epoch's grid, metrics row and callback
        # states; Lightning would skip the epoch-end save at an already-saved step, but it must be written.
        if self._last_global_step_saved == trainer.global_step:
            self._last_global_step_saved = -1
        super().on_train_epoch_end(trainer, pl_module)

    @property
    def state_key(self) -> str:
        return f"LastCheckpoint{{every_n_train_steps={self._every_n_train_steps}}}"


class BestFIDCheckpoint(ModelCheckpoint):
    """``<dirpath>/best-fid.ckpt``: the weights of the epoch with the lowest FID so far.

    GANs' FID can rise again late in training (StudioGAN keeps its best-FID checkpoint for that).
    """

    def __init__(self, dirpath: str, monitor: str = "metrics/fid") -> None:
        super().__init__(
            dirpath=dirpath, filename="best-fid", monitor=monitor, mode="min", save_top_k=1,
            enable_version_counter=False, auto_insert_metric_name=False, every_n_epochs=1,
            save_on_train_epoch_end=True,
        )

    @property
    def state_key(self) -> str:
        return f"BestFIDCheckpoint{{monitor={self.monitor}}}"
