"""Stop a diverged run before it overwrites a good checkpoint with NaN weights.

:class:`DivergenceGuard` checks the losses logged by the step (``train/*``) and every weight after
each training batch. A NaN or Inf stops the run with one :class:`~igan.errors.IganError` naming the
epoch and step. Lightning calls checkpoint callbacks after all others in the same hook, so the
step that diverged is never saved; :class:`igan.training.checkpoints.AtomicCheckpointIO` also refuses any
checkpoint whose weights or optimizer states are not finite (:func:`nonfinite_tensors`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Optional

import lightning as L
import torch
from torch import Tensor

from igan.errors import IganError


def _listing(names: list[str], shown: int = 3) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def nonfinite_tensors(named: Iterable[tuple[str, Any]]) -> list[str]:
    """Names of the floating-point tensors among ``named`` that hold a NaN or an Inf.

    Screens with one sum per tensor (a NaN or Inf anywhere makes it non-finite; one fused pass,
    far cheaper than ``isfinite``) and one sync per device; only when a sum is not finite (or a
    huge finite tensor overflowed it) does it look element by element.
    """
    by_device: dict[torch.device, list[tuple[int, str, Tensor]]] = {}
    for i, (name, t) in enumerate(named):
        if isinstance(t, Tensor) and t.is_floating_point() and t.numel():
            by_device.setdefault(t.device, []).append((i, name, t))
    bad = []
    for tensors in by_device.values():
        sums = torch.stack([t.detach().sum(dtype=torch.float32 if t.element_size() < 4 else None).float()
                            for _, _, t in tensors])
        if bool(torch.isfinite(sums).all()):
            continue
        suspects = [tensors[i] for i in torch.nonzero(~torch.isfinite(sums)).flatten().tolist()]
        bad += [(i, name) for i, name, t in suspects if not bool(torch.isfinite(t).all())]
    return [name for _, name in sorted(bad)]


def checkpoint_tensors(checkpoint: dict) -> Iterable[tuple[str, Any]]:
    """The weights and optimizer states of a Lightning checkpoint dict, by name."""
    yield from (checkpoint.get("state_dict") or {}).items()
    for i, optimizer in enumerate(checkpoint.get("optimizer_states") or []):
        for param, state in ((optimizer or {}).get("state") or {}).items():
            for key, value in (state or {}).items():
                yield f"optimizer_states[{i}].state[{param}].{key}", value


class DivergenceGuard(L.Callback):
    """After every training batch: all ``train/*`` losses and all weights must be finite.

    Args:
        checkpoint_dir: where the run's ``last.ckpt`` lives, named in the message.
    """

    def __init__(self, checkpoint_dir: Optional[str | Path] = None) -> None:
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        # Every step's losses (the module logs them only every log_every_n_steps).
        losses = {k: v for k, v in (getattr(pl_module, "step_losses", None) or {}).items()
                  if isinstance(v, Tensor) and v.is_floating_point()}
        bad_losses = nonfinite_tensors(losses.items())
        bad_weights = nonfinite_tensors(list(pl_module.named_parameters()) + list(pl_module.named_buffers()))
        if not bad_losses and not bad_weights:
            return
        what = []
        if bad_losses:
            what.append(", ".join(f"{k}={losses[k].item()}" for k in bad_losses))
        if bad_weights:
            what.append(f"non-finite weights in {_listing(bad_weights)}")
        num_batches = trainer.num_training_batches
        where = (f"in epoch {trainer.current_epoch + 1} at step {trainer.global_step} "
                 f"(batch {batch_idx + 1} of {num_batches})")
        last = self.checkpoint_dir / "last.ckpt" if self.checkpoint_dir is not None else None
        kept = (f"the last good checkpoint {last} is kept" if last is not None and last.is_file()
                else "no checkpoint was written")
        raise IganError(
            f"training diverged {where}: {'; '.join(what)}. Stopped without saving; {kept}. "
            "Lower the learning rates (model.lr_g / model.lr_d) or check the data; "
            "--trainer.detect_anomaly=true names the operation that first produced a NaN"
        )
