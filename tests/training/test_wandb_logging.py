"""A resumed run whose W&B run id is still held by a killed process waits for it, within a budget."""

from __future__ import annotations

import igan.training.wandb_logging as wandb_logging


class ServerResponseError(Exception):
    """Stands for wandb's error of that name: only its module and message matter here."""


ServerResponseError.__module__ = "wandb.sdk.mailbox.mailbox_handle"


def test_run_id_in_use_waits_then_gives_up(monkeypatch, capsys):
    slept = []
    monkeypatch.setattr(wandb_logging.time, "sleep", slept.append)
    err = ServerResponseError("run ID rb4hu03r is in use")
    waited, tries = 0.0, 0
    while wandb_logging.wait_if_run_id_in_use(err, waited):
        waited, tries = waited + 5.0, tries + 1
    assert tries == wandb_logging.RUN_ID_WAIT_SECONDS / 5 and sum(slept) == wandb_logging.RUN_ID_WAIT_SECONDS
    assert capsys.readouterr().err.count("warning: the W&B run id is still held") == tries


def test_other_errors_do_not_wait(monkeypatch):
    monkeypatch.setattr(wandb_logging.time, "sleep", lambda s: (_ for _ in ()).throw(AssertionError("slept")))
    assert not wandb_logging.wait_if_run_id_in_use(ServerResponseError("permission denied"), 0.0)
    assert not wandb_logging.wait_if_run_id_in_use(RuntimeError("run ID x is in use"), 0.0)
