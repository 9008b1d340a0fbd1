"""Learning-rate decay to the end of a run's budget (``model.lr_decay``).

A GAN at a high, constant learning rate keeps circling a noisy equilibrium: its FID stops falling
long before the budget ends. CycleGAN and pix2pix keep the rate for the first half of training and
let it fall linearly to zero over the second; Li et al. ("Budgeted Training", ICLR 2020) show that
a decay timed to the budget is what a fixed budget wants. igan's budgets are epochs, steps or
minutes (``trainer.max_time``, as ``igan study --minutes`` and ``make demo`` set), so the decay
follows whichever of them ends the run first.
"""

from __future__ import annotations

import math

import lightning as L

from igan.lightning_internals import trainer_timer


def linear_decay(progress: float, share: float) -> float:
    """The learning-rate factor at ``progress`` (0 = start, 1 = end of the budget): 1 until the last
    ``share`` of the budget, then linearly down to 0 at its end; ``share`` 0 keeps it at 1."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"model.lr_decay must be in [0, 1], got {share}")
    if share == 0.0:
        return 1.0
    return min(1.0, max(0.0, (1.0 - progress) / share))


def budget_progress(trainer: L.Trainer, epochs_completed: float) -> float:
    """How much of its budget the run has spent, in [0, 1]: the largest of its epochs, steps and
    ``max_time`` shares (0 where none bounds it), so the decay ends where the run does.

    Time is read from Lightning's Timer, which a resumed run restores; under several processes rank
    0's clock decides, so that every rank applies the same learning rate.
    """
    shares = [0.0]
    if trainer.max_epochs is not None and trainer.max_epochs > 0:
        shares.append(epochs_completed / trainer.max_epochs)
    if trainer.max_steps is not None and trainer.max_steps > 0:
        shares.append(trainer.global_step / trainer.max_steps)
    timer = trainer_timer(trainer)
    remaining = timer.time_remaining() if timer is not None else None
    if remaining is not None:
        elapsed = timer.time_elapsed()
        total = elapsed + remaining
        if total > 0 and math.isfinite(total):
            time_share = elapsed / total
            if trainer.world_size > 1:
                time_share = float(trainer.strategy.broadcast(time_share, src=0))
            shares.append(time_share)
    return min(1.0, max(shares))
