"""model.lr_decay: both learning rates fall linearly to zero over the last share of the budget,
whether the budget is epochs or minutes, on a real Trainer."""

from types import SimpleNamespace

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import timer as lightning_timer
from torch.utils.data import DataLoader, TensorDataset

from igan.gan import GAN
from igan.gan.schedule import linear_decay
from igan.models import DCGANDiscriminator, DCGANGenerator


def test_linear_decay_holds_then_falls_to_zero():
    assert [linear_decay(p, 0.5) for p in (0.0, 0.25, 0.5, 0.75, 1.0, 1.2)] == [1.0, 1.0, 1.0, 0.5, 0.0, 0.0]
    assert [linear_decay(p, 1.0) for p in (0.0, 0.25, 1.0)] == [1.0, 0.75, 0.0]
    assert linear_decay(0.9, 0.0) == 1.0  # off
    with pytest.raises(ValueError, match=r"model.lr_decay must be in \[0, 1\], got 1.5"):
        linear_decay(0.0, 1.5)


class RecordRates(L.Callback):
    """The rates each optimizer stepped with (read after the step, as the module set them before it)."""

    def __init__(self) -> None:
        self.rates: list[tuple[float, float]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        opt_g, opt_d = trainer.optimizers
        self.rates.append((opt_g.param_groups[0]["lr"], opt_d.param_groups[0]["lr"]))


def _fit(lr_decay: float, ckpt_path=None, extra_callbacks=(), **trainer_args) -> list[tuple[float, float]]:
    torch.manual_seed(0)
    g = DCGANGenerator(image_size=16, channels=1, latent_dim=8, width=8)
    d = DCGANDiscriminator(image_size=16, channels=1, width=8)
    module = GAN(g, d, lr_g=2e-4, lr_d=8e-4, lr_decay=lr_decay)
    record = RecordRates()
    trainer_args = {"enable_checkpointing": False, **trainer_args}
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[record, *extra_callbacks], **trainer_args)
    trainer.fit(module, DataLoader(TensorDataset(torch.rand(16, 1, 16, 16) * 2 - 1), batch_size=4),
                ckpt_path=ckpt_path)
    return record.rates


def test_rates_follow_the_epoch_budget():
    # 2 epochs of 4 batches; the decay covers the second half: steps 0-4 at full rate, then
    # 3/4, 2/4, 1/4 of it (progress is counted before each step: 4/8, 5/8, ...).
    rates = _fit(lr_decay=0.5, max_epochs=2)
    expected = [1.0] * 5 + [0.75, 0.5, 0.25]
    assert [r[0] for r in rates] == pytest.approx([2e-4 * s for s in expected])
    assert [r[1] for r in rates] == pytest.approx([8e-4 * s for s in expected])


def test_rates_are_constant_without_decay():
    assert set(_fit(lr_decay=0.0, max_epochs=2)) == {(2e-4, 8e-4)}


class TickingClock(L.Callback):
    """Stands in for the Timer's clock: each training step takes exactly `seconds`, so the time
    budget's rates are exact on any machine, however loaded."""

    def __init__(self, seconds: float) -> None:
        self.now, self.seconds = 1000.0, seconds

    def monotonic(self) -> float:
        return self.now

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.now += self.seconds


def test_rates_follow_the_time_budget(monkeypatch):
    # max_time (3 s of 0.25 s steps) ends the run long before its 10,000 epochs: the rate falls
    # with the clock, 1 - k/12 before step k, and the Timer stops the run after the 12th step.
    clock = TickingClock(0.25)
    monkeypatch.setattr(lightning_timer, "time", SimpleNamespace(monotonic=clock.monotonic))
    pairs = _fit(lr_decay=1.0, max_epochs=10_000, max_time={"seconds": 3}, extra_callbacks=[clock])
    assert [g for g, _ in pairs] == pytest.approx([2e-4 * (1 - k / 12) for k in range(12)])
    assert [d for _, d in pairs] == pytest.approx([8e-4 * (1 - k / 12) for k in range(12)])


def test_rates_follow_the_step_budget():
    # max_steps = 6 generator updates ends the run inside its 2 epochs: the step share decides.
    rates = _fit(lr_decay=0.5, max_epochs=2, max_steps=6)
    assert [g for g, _ in rates] == pytest.approx([2e-4 * s for s in (1.0, 1.0, 1.0, 1.0, 2 / 3, 1 / 3)])


def test_a_resumed_run_continues_the_decay(tmp_path):
    # Stopped after the first epoch and resumed: the second epoch's rates are the uninterrupted run's.
    whole = _fit(lr_decay=1.0, max_epochs=2)
    _fit(lr_decay=1.0, max_epochs=1, default_root_dir=tmp_path, enable_checkpointing=True)
    ckpt = next(tmp_path.rglob("*.ckpt"))
    resumed = _fit(lr_decay=1.0, ckpt_path=str(ckpt), max_epochs=2)
    assert [g for g, _ in whole[4:]] == pytest.approx([2e-4 * s for s in (0.5, 0.375, 0.25, 0.125)])
    assert [r for pair in resumed for r in pair] == pytest.approx([r for pair in whole[4:] for r in pair])
