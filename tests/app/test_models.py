"""Checkpoints by name and kind: each tab gets the checkpoints it can use, and a name of the other
kind is a message naming the tab that takes it."""

from __future__ import annotations

from pathlib import Path

import pytest
from app.app_checkpoints import gan_checkpoint

from igan.app.models import Models
from igan.errors import IganError
from igan.sampling import checkpoint_name


def test_names_are_the_run_and_the_file():
    assert checkpoint_name(Path("runs/calligraphy-idcgan-s0/checkpoints/last.ckpt")) == "calligraphy-idcgan-s0/last.ckpt"
    assert checkpoint_name(Path("/tmp/mine.ckpt")) == "mine.ckpt"


def test_gans_and_involution_models_are_told_apart():
    dcgan, idcgan = gan_checkpoint(), gan_checkpoint("cifar10_idcgan.yaml")
    models = Models.load([dcgan, idcgan])
    assert list(models.gans) == [checkpoint_name(dcgan), checkpoint_name(idcgan)]
    assert models.involution_gans == [checkpoint_name(idcgan)] and not models.translators
    assert not models.gans[checkpoint_name(dcgan)].training  # eval mode: BatchNorm uses its running statistics
    with pytest.raises(IganError, match="the translation checkpoints are none"):
        models.translator(checkpoint_name(dcgan) + "x")
    with pytest.raises(IganError, match="is a GAN checkpoint"):
        models.translator(checkpoint_name(dcgan))


def test_one_file_given_twice_keeps_both_names_distinct(tmp_path):
    models = Models.load([gan_checkpoint(), str(gan_checkpoint())])
    assert len(models.gans) == 2
