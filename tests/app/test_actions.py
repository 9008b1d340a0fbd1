"""The page's work as plain functions, on checkpoints of real few-batch trainings: each tab's files
are what ``igan sample`` writes for the same request, deterministic, and bad input is one message."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from app.app_checkpoints import TRANSLATION_SIZE, gan_checkpoint, translation_checkpoint
from conftest import kai_fonts_installed
from PIL import Image
from test_sampling import sample_main

from igan.app import actions
from igan.app.models import Models
from igan.errors import IganError


@pytest.fixture(scope="module")
def models() -> Models:
    return Models.load([gan_checkpoint(), gan_checkpoint("cifar10_idcgan.yaml")])


@pytest.fixture(scope="module")
def gan(models) -> str:
    return next(name for name in models.gans if "idcgan" not in name)


@pytest.fixture(scope="module")
def translation_models() -> Models:
    if not kai_fonts_installed():
        pytest.skip("no CJK Kai font installed: the translation run renders its glyphs")
    return Models.load([translation_checkpoint(), gan_checkpoint()])


def test_generate_writes_the_grid_igan_sample_writes(models, gan, tmp_path):
    path = actions.generate(models, gan, 5, 0.7, 3, tmp_path)
    assert sample_main(["--ckpt", str(models.paths[gan]), "--num", "9", "--seed", "5", "--truncation", "0.7",
                        "--out", str(tmp_path / "cli.png")]) == 0
    assert path.read_bytes() == (tmp_path / "cli.png").read_bytes()
    assert Image.open(path).size == (3 * 34 + 2,) * 2
    again = actions.generate(models, gan, 5.0, 0.7, 3, tmp_path / "again")  # a slider's 5.0 is seed 5
    assert again.read_bytes() == path.read_bytes()
    assert actions.generate(models, gan, 6, 0.7, 3, tmp_path).read_bytes() != path.read_bytes()


def test_no_truncation_is_zero(models, gan, tmp_path):
    plain = actions.generate(models, gan, 1, 0, 2, tmp_path)
    assert sample_main(["--ckpt", str(models.paths[gan]), "--num", "4", "--seed", "1",
                        "--out", str(tmp_path / "cli.png")]) == 0
    assert plain.read_bytes() == (tmp_path / "cli.png").read_bytes()


def test_interpolate_writes_the_row_and_its_animation(models, gan, tmp_path):
    row, animation = actions.interpolate(models, gan, 2, 9, 6, "lerp", 0, tmp_path)
    assert sample_main(["--ckpt", str(models.paths[gan]), "--interpolate", "2", "9", "--frames", "6", "--path",
                        "lerp", "--out", str(tmp_path / "cli.png")]) == 0
    assert row.read_bytes() == (tmp_path / "cli.png").read_bytes()
    image = Image.open(animation)
    assert image.format == "GIF" and image.n_frames == 6 and image.size == (32, 32)


def test_kernel_maps_are_one_row_per_image(models, tmp_path):
    (idcgan,) = models.involution_gans
    path = actions.kernels(models, idcgan, 0, 3, tmp_path)
    layers = len([m for m in models.gans[idcgan].modules() if type(m).__name__ == "Involution2d"])
    assert layers >= 1
    assert Image.open(path).size == ((1 + layers) * 34 + 2, 3 * 34 + 2)
    assert not np.all(np.asarray(Image.open(path)) == np.asarray(Image.open(path))[0, 0])


@pytest.mark.parametrize("call, message", [
    (lambda m, g, d: actions.generate(m, g, -1, 0, 2, d), "the seed must be a whole number from 0"),
    (lambda m, g, d: actions.generate(m, g, 1.5, 0, 2, d), "the seed must be a whole number"),
    (lambda m, g, d: actions.generate(m, g, 1, 0.001, 2, d), "the truncation must be 0 (off) or at least 0.01"),
    (lambda m, g, d: actions.generate(m, g, 1, 0, 17, d), "the grid size must be from 1 to 16"),
    (lambda m, g, d: actions.generate(m, "nope", 1, 0, 2, d), "no checkpoint named 'nope'"),
    (lambda m, g, d: actions.interpolate(m, g, 3, 3, 8, "slerp", 0, d), "seed A and seed B must differ"),
    (lambda m, g, d: actions.interpolate(m, g, 3, 4, 1, "slerp", 0, d), "the frames must be from 2 to 256"),
    (lambda m, g, d: actions.interpolate(m, g, 3, 4, 8, "cubic", 0, d), "the path is slerp or lerp"),
    (lambda m, g, d: actions.kernels(m, g, 0, 2, d), "has no involution layers"),
    (lambda m, g, d: actions.translate(m, [g], "永", "all", d), "is a GAN checkpoint"),
])
def test_bad_input_is_one_message_and_writes_nothing(call, message, models, gan, tmp_path):
    with pytest.raises(IganError) as err:
        call(models, gan, tmp_path)
    assert message in str(err.value)
    assert not list(tmp_path.iterdir())


def test_translation_grid_names_the_characters_the_source_font_lacks(translation_models, tmp_path):
    (name,) = translation_models.translators
    path, message = actions.translate(translation_models, [name], "的 一\U0001F600是", "LXGW WenKai", tmp_path)
    assert Image.open(path).size == (3 * (TRANSLATION_SIZE + 2) + 2, 3 * (TRANSLATION_SIZE + 2) + 2)
    assert "lacks \U0001F600 (1 of 4 characters)" in message and "translated 3 characters into LXGW WenKai" in message
    same, _ = actions.translate(translation_models, name, "的一是", "lxgw-wenkai", tmp_path / "again")
    assert same.read_bytes() == path.read_bytes()


@pytest.mark.parametrize("text, style, message", [
    ("  ", "LXGW WenKai", "the text is empty"),
    ("的", "Comic Sans", "the style 'Comic Sans' is not a style of this checkpoint"),
    ("\U0001F600", "LXGW WenKai", "lacks \U0001F600"),
])
def test_bad_translation_requests_are_one_message(text, style, message, translation_models, tmp_path):
    (name,) = translation_models.translators
    with pytest.raises(IganError) as err:
        actions.translate(translation_models, [name], text, style, tmp_path)
    assert message in str(err.value)


def test_a_translation_checkpoint_is_refused_by_generate(translation_models, tmp_path):
    (name,) = translation_models.translators
    with pytest.raises(IganError, match="is a translation checkpoint: the Translate tab takes it"):
        actions.generate(translation_models, name, 0, 0, 2, tmp_path)


def test_font_is_written_by_the_font_package(translation_models, tmp_path):
    pytest.importorskip("igan.font.build")
    fonttools = pytest.importorskip("fontTools.ttLib")
    (name,) = translation_models.translators
    calls = []
    path = actions.font(translation_models, name, "的一\U0001F600", "LXGW WenKai", tmp_path,
                        lambda done, total: calls.append((done, total)))
    cmap = fonttools.TTFont(path).getBestCmap()
    assert ord("的") in cmap and ord("一") in cmap and 0x1F600 not in cmap
    assert calls and calls[-1] == (2, 2)
    with pytest.raises(IganError, match="one style"):
        actions.font(translation_models, name, "的", "all", tmp_path)
