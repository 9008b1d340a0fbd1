"""Each Lightning internal in :mod:`igan.lightning_internals` still exists and still means what igan assumes.

A Lightning upgrade that renames or changes one of them fails here, by name, instead of silently
changing what training does (DDP hanging, step values logged on other steps, Ctrl-C not saving).
"""

from __future__ import annotations

import lightning as L
import pytest
import torch
from conftest import RecordingLogger
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch.utils.data import DataLoader, TensorDataset

from igan.lightning_internals import (
    can_request_stop_after_batch,
    ddp_kwargs,
    request_stop_after_batch,
    step_logs_are_written,
    trainer_timer,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*does not have many workers:UserWarning",
    "ignore:The number of training batches:UserWarning",
    "ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated",
)


class Regression(L.LightningModule):
    """A one-weight model whose every training step logs its loss, recording when Lightning would write it."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)
        self.written_steps: list[int] = []

    def training_step(self, batch, batch_idx):
        (x,) = batch
        loss = self.layer(x).pow(2).mean()
        self.log("loss", loss, on_step=True, on_epoch=False)
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        if step_logs_are_written(self.trainer):
            self.written_steps.append(batch_idx)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def fit(batches: int, callbacks=(), **trainer_kwargs) -> tuple[Regression, L.Trainer, object]:
    module, logger = Regression(), RecordingLogger()
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, limit_train_batches=batches, logger=logger,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=list(callbacks), **trainer_kwargs)
    trainer.fit(module, DataLoader(TensorDataset(torch.randn(batches, 1)), batch_size=1))
    return module, trainer, logger


def test_step_logs_are_written_on_exactly_the_batches_whose_values_reach_the_loggers():
    module, _, logger = fit(batches=7, log_every_n_steps=3)
    assert module.written_steps == [2, 5]
    assert [step for step, metrics in logger.rows if "loss" in metrics] == module.written_steps


class StopAt(L.Callback):
    """Stops the run after batch ``at`` as Lightning's Timer and EarlyStopping do (``should_stop``)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if batch_idx == self.at:
            trainer.should_stop = True


def test_step_logs_are_written_on_the_batch_a_callback_stops_on():
    module, _, logger = fit(batches=9, callbacks=[StopAt(4)], log_every_n_steps=3)
    assert module.written_steps == [2, 4]
    assert [step for step, metrics in logger.rows if "loss" in metrics] == module.written_steps


class RequestStop(L.Callback):
    """Requests the SIGTERM stop after batch ``at``; ``then_clear`` withdraws it in the same hook."""

    def __init__(self, at: int, then_clear: bool = False) -> None:
        self.at, self.then_clear, self.seen, self.batches = at, then_clear, [], 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.batches += 1
        if batch_idx == self.at:
            assert can_request_stop_after_batch(trainer) and not trainer.received_sigterm
            request_stop_after_batch(trainer)
            self.seen.append(trainer.received_sigterm)  # the public read sees the request
            if self.then_clear:
                request_stop_after_batch(trainer, False)
                self.seen.append(trainer.received_sigterm)


def test_a_requested_stop_ends_fit_after_the_batch_with_sigterm_exception():
    request = RequestStop(at=1)
    with pytest.raises(SIGTERMException):
        fit(batches=5, callbacks=[request])
    assert request.seen == [True] and request.batches == 2


def test_a_withdrawn_stop_request_lets_the_run_finish():
    request = RequestStop(at=1, then_clear=True)
    _, trainer, _ = fit(batches=5, callbacks=[request])
    assert request.seen == [True, False] and trainer.global_step == 5


def test_ddp_kwargs_are_what_the_strategy_passes_to_distributed_data_parallel(monkeypatch):
    """Set after construction (as GAN.setup does), they reach ``DistributedDataParallel`` when the strategy wraps the module."""
    import lightning.pytorch.strategies.ddp as ddp_module

    strategy = DDPStrategy(accelerator=CPUAccelerator(), parallel_devices=[torch.device("cpu")],
                           find_unused_parameters=False)
    kwargs = ddp_kwargs(strategy)
    assert kwargs["find_unused_parameters"] is False  # the constructor's keyword, as given
    kwargs["find_unused_parameters"] = True
    wrapped = {}
    monkeypatch.setattr(ddp_module, "DistributedDataParallel", lambda module, device_ids, **kw: wrapped.update(kw))
    strategy._setup_model(torch.nn.Linear(1, 1))
    assert wrapped["find_unused_parameters"] is True


def test_trainer_timer_is_the_one_max_time_adds():
    timed = L.Trainer(max_time={"seconds": 90}, accelerator="cpu", logger=False, enable_checkpointing=False)
    assert trainer_timer(timed).time_remaining() == 90  # not started: the whole budget
    assert trainer_timer(L.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False)) is None
