"""``runs/<run>/metrics.csv`` of a translation run: :class:`igan.training.history.RunHistory`'s
file and rules (one row per epoch, rows after a resumed checkpoint dropped), with the translation
losses and the held-out scores per style as columns."""

from __future__ import annotations

from igan.training.history import RunHistory
from igan.translation.metrics import metric_columns

LOSSES = ["d_loss", "g_loss", "g_adv", "train_l1", "d_real", "d_fake"]


def history_columns(styles: list[str]) -> list[str]:
    return ["epoch", "global_step", "g_updates", "d_updates", "train_seconds", *LOSSES,
            *metric_columns(styles), "eval_seconds", "grid"]


class TranslationHistory(RunHistory):
    """Writes ``<run_dir>/metrics.csv`` after the epoch's held-out grid and scores (register it after them)."""

    def __init__(self, run_dir, styles: list[str], samples=None, metrics=None) -> None:
        super().__init__(run_dir, samples=samples, metrics=metrics, columns=history_columns(styles))
