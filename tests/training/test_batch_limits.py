"""``limit_*_batches=1`` means one batch when written as an integer, all batches as ``1.0``, through the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_failures import RUN, cli_args

from igan.io.checkpoint_file import load_checkpoint_file
from igan.training.batch_limits import keep_in_dump, raw_settings, written_as_int
from igan.training.cli import main

QUIET = ["--trainer.logger=false"]


def run_dir(out: Path) -> Path:
    return out / "runs" / RUN


@pytest.mark.parametrize("spelling, steps, note", [
    ("1", 1, "note: trainer.limit_train_batches=1 read as one batch per epoch; write 1.0 for all batches"),
    ("1.0", 12, "note: trainer.limit_train_batches=1.0 read as all batches (the fraction 1.0); write 1 for one"),
])
def test_limit_train_batches_one_is_one_batch_and_one_point_zero_all(spelling, steps, note, tiny_cifar10, tmp_path,
                                                                      capsys):
    out = tmp_path / "out"  # tiny CIFAR-10: 100 images, batches of 8 -> 12 batches
    assert main(cli_args(out, tiny_cifar10, *QUIET, f"--trainer.limit_train_batches={spelling}")) == 0
    assert load_checkpoint_file(run_dir(out) / "checkpoints" / "last.ckpt")["global_step"] == steps
    assert capsys.readouterr().err.count(note) == 1
    # The saved config keeps the spelling's meaning: 1 stays an int.
    assert f"limit_train_batches: {spelling}\n" in (run_dir(out) / "config.yaml").read_text()


def test_raw_settings_follow_the_command_line_and_config_files_in_order(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("trainer:\n  limit_train_batches: 1\n  limit_val_batches: 1.0\n")
    keys = ("limit_train_batches", "limit_val_batches")
    assert raw_settings(["--config", str(config)], keys) == {"limit_train_batches": 1, "limit_val_batches": 1.0}
    assert raw_settings([f"--config={config}", "--trainer.limit_train_batches", "1.0"], keys)["limit_train_batches"] \
        == "1.0"
    assert raw_settings(["--trainer.limit_train_batches=1", "--config", str(config)], keys)["limit_val_batches"] == 1.0
    assert [written_as_int(v) for v in (1, "1", " 1", 1.0, "1.0", "1e0", True)] == [True, True, True, False, False,
                                                                                 False, False]


def test_the_dumped_config_keeps_the_spelling():
    dumped = "trainer:\n  max_epochs: 2\n  limit_train_batches: 1.0\n  limit_val_batches: 1.0\n"
    assert keep_in_dump(dumped, {"limit_train_batches": 1}) == \
        "trainer:\n  max_epochs: 2\n  limit_train_batches: 1\n  limit_val_batches: 1.0\n"
    assert keep_in_dump(dumped, {}) is dumped
