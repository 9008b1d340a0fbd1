"""``sample.py --chars ... --style ...`` on a real translation checkpoint: the grid holds the training
glyphs of the source and truth and the module's own translation; bad requests stop with one line.
``igan compare`` reads translation runs and shows their held-out grids."""

from __future__ import annotations

import runpy
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO, TEST_CHARS, requires_kai_font
from translation.tiny_run import SIZE, STYLES, train_tiny
from PIL import Image

from igan.io.images import grid_pixels
from igan.models.dcgan import DCGANGenerator
from igan.models.spec import spec_of
from igan.translation.data import PairsDataModule, to_unit_range
from igan.translation.module import Translation
from igan.translation.sampling import load_translator, translation_grid

sample_main = runpy.run_path(str(REPO / "sample.py"), run_name="sample")["main"]

CHARS = TEST_CHARS[:4]

pytestmark = requires_kai_font


@pytest.fixture(scope="module")
def run(tmp_path_factory, calligraphy_root) -> Path:
    return train_tiny(tmp_path_factory.mktemp("translate-sample"), calligraphy_root).parent.parent


@pytest.fixture(scope="module")
def ckpt(run) -> Path:
    return run / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def reference(ckpt):
    """The trained module and the training data, rebuilt from the checkpoint beside sample.py."""
    saved = torch.load(ckpt, weights_only=True)
    drop = lambda d: {k: v for k, v in d.items() if not k.startswith("_")}
    module = Translation(**drop(saved["hyper_parameters"]))
    module.load_state_dict(saved["state_dict"])
    data = PairsDataModule(**drop(saved["datamodule_hyper_parameters"]))
    data.setup("fit")
    return module, data.pairs


def cells(path: Path, rows: int, cols: int) -> np.ndarray:
    """(rows, cols, S, S) pixels of a grid written with 2 px padding."""
    image = np.asarray(Image.open(path))
    assert image.shape == (rows * (SIZE + 2) + 2, cols * (SIZE + 2) + 2)
    step = SIZE + 2
    return np.stack([np.stack([image[2 + r * step:2 + r * step + SIZE, 2 + c * step:2 + c * step + SIZE]
                               for c in range(cols)]) for r in range(rows)])


def pixels(images: torch.Tensor) -> np.ndarray:
    return grid_pixels(images)[:, 0].numpy()


def test_grid_is_source_translation_and_truth(ckpt, reference, tmp_path):
    out = tmp_path / "x.png"
    assert sample_main(["--ckpt", str(ckpt), "--chars", CHARS, "--style", "LXGW WenKai", "--out", str(out)]) == 0
    grid = cells(out, 3, len(CHARS))
    module, pairs = reference
    at = [pairs.chars.index(c) for c in CHARS]
    sources = to_unit_range(pairs.sources[at])
    # The source row is the training glyph, pixel for pixel: rendered by the dataset's own code.
    assert np.array_equal(grid[0], pixels(sources))
    # The translated row is the module's translation of those sources into style 1.
    translated = module.translate(sources, torch.full((len(CHARS),), 1))
    assert np.abs(grid[1].astype(int) - pixels(translated).astype(int)).max() <= 1
    # The truth row is the training target of that style.
    truth = [pairs.targets[((pairs.char_index == i) & (pairs.style_index == 1)).nonzero()[0, 0]] for i in at]
    assert np.array_equal(grid[2], pixels(to_unit_range(torch.stack(truth))))
    assert not np.array_equal(grid[1], grid[2])


def test_translations_equal_the_modules(ckpt, reference):
    """In floats, before the pixels round them: each style's row is the module's translation into that style."""
    module, pairs = reference
    translator = load_translator(ckpt)
    images = translation_grid(translator, CHARS, [1, 0])
    sources = to_unit_range(pairs.sources[[pairs.chars.index(c) for c in CHARS]])
    n = len(CHARS)
    assert torch.equal(images[:n], sources)
    for row, style in ((1, 1), (3, 0)):
        expected = module.translate(sources, torch.full((n,), style))
        torch.testing.assert_close(images[row * n:(row + 1) * n], expected, rtol=0, atol=1e-6)
    assert not torch.allclose(images[n:2 * n], images[3 * n:4 * n], rtol=0, atol=1e-6)  # the style id matters


def test_style_all_gives_a_row_pair_per_style(ckpt, tmp_path):
    every, one = tmp_path / "all.png", tmp_path / "ukai.png"
    assert sample_main(["--ckpt", str(ckpt), "--chars", CHARS, "--style", "all", "--out", str(every)]) == 0
    assert sample_main(["--ckpt", str(ckpt), "--chars", CHARS, "--style", "ar-pl-ukai-cn", "--out", str(one)]) == 0
    grid, ukai = cells(every, 1 + 2 * len(STYLES), len(CHARS)), cells(one, 3, len(CHARS))
    assert np.array_equal(grid[:3], ukai)  # style 0's pair first, the slug of a style names it too
    assert not np.array_equal(grid[4], grid[2])  # each style its own truth


def test_several_checkpoints_give_one_row_each_between_source_and_truth(ckpt, tmp_path):
    """The blocks side by side: here one checkpoint twice (the same row twice) and a changed copy of it."""
    changed = tmp_path / "changed.ckpt"
    state = torch.load(ckpt, weights_only=True)
    state["state_dict"] = {k: v * 1.5 if k.startswith("generator.") and v.is_floating_point() else v
                           for k, v in state["state_dict"].items()}
    torch.save(state, changed)
    one, three = tmp_path / "one.png", tmp_path / "three.png"
    style = ["--chars", CHARS, "--style", "LXGW WenKai"]
    assert sample_main(["--ckpt", str(ckpt), *style, "--out", str(one)]) == 0
    assert sample_main(["--ckpt", str(ckpt), str(ckpt), str(changed), *style, "--out", str(three)]) == 0
    single, rows = cells(one, 3, len(CHARS)), cells(three, 5, len(CHARS))
    assert np.array_equal(rows[0], single[0]) and np.array_equal(rows[4], single[2])  # source, truth
    assert np.array_equal(rows[1], single[1]) and np.array_equal(rows[2], single[1])  # the checkpoint, twice
    assert not np.array_equal(rows[3], single[1])  # the changed weights: another row


@pytest.mark.parametrize("field, value", [("styles", ["LXGW WenKai"]), ("margin", 0.3), ("source_font", "AR PL UKai CN")])
def test_checkpoints_of_other_data_are_refused(field, value, ckpt, tmp_path, capsys):
    other = tmp_path / "other.ckpt"
    state = torch.load(ckpt, weights_only=True)
    state["datamodule_hyper_parameters"] = {**state["datamodule_hyper_parameters"], field: value}
    torch.save(state, other)
    out = tmp_path / "x.png"
    assert sample_main(["--ckpt", str(ckpt), str(other), "--chars", CHARS, "--out", str(out)]) == 2
    assert f"the checkpoints differ in data.{field}" in capsys.readouterr().err and not out.exists()


def test_several_checkpoints_without_chars_are_refused(ckpt, tmp_path, capsys):
    assert sample_main(["--ckpt", str(ckpt), str(ckpt), "--out", str(tmp_path / "x.png")]) == 2
    assert "--ckpt takes one checkpoint" in capsys.readouterr().err


@pytest.fixture(scope="module")
def gan_ckpt(tmp_path_factory) -> Path:
    """An unconditional checkpoint as training writes it: a generator spec and its weights."""
    generator = DCGANGenerator(image_size=32, channels=1, latent_dim=8, width=8)
    path = tmp_path_factory.mktemp("gan") / "gan.ckpt"
    torch.save({"hyper_parameters": {"generator": spec_of(generator)},
                "state_dict": {f"generator.{k}": v for k, v in generator.state_dict().items()}}, path)
    return path


@pytest.mark.parametrize("case, extra, says", [
    ("missing char", ["--chars", "永\U00020000", "--style", "LXGW WenKai"], "lacks \U00020000"),
    ("unknown style", ["--chars", CHARS, "--style", "No Such Kai"], "known styles: 'AR PL UKai CN', 'LXGW WenKai'"),
    ("gan with --chars", ["--chars", CHARS], "unconditional (GAN) checkpoint"),
    ("translation without --chars", [], "translation checkpoint: give the characters to translate with --chars"),
    ("a folder", ["--chars", CHARS, "--style", "all"], "--chars writes one grid"),
])
def test_bad_requests_are_one_error_line(case, extra, says, ckpt, gan_ckpt, tmp_path, capsys):
    out = tmp_path / ("folder" if case == "a folder" else "x.png")
    checkpoint = gan_ckpt if case.startswith("gan") else ckpt
    assert sample_main(["--ckpt", str(checkpoint), *extra, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in err, err
    assert not out.exists() and not list(tmp_path.iterdir())


def test_the_gan_checkpoint_of_the_error_case_samples(gan_ckpt, tmp_path):
    """The unconditional checkpoint above is a real one: without --chars it samples."""
    assert sample_main(["--ckpt", str(gan_ckpt), "--num", "4", "--out", str(tmp_path / "g.png")]) == 0


def test_compare_reads_translation_runs(run, tmp_path):
    from igan.report.compare import compare_runs

    twin = run.parent / "run_twin"  # the same run under another folder: a second run to compare
    if not twin.exists():
        shutil.copytree(run, twin, ignore=shutil.ignore_patterns("checkpoints"))
    result = compare_runs([run, twin], tmp_path / "cmp", labels=["conv", "twin"])
    assert [p.title for p in result["panels"]] == ["held-out L1", "held-out SSIM"]
    # The montage cells are the held-out grids: source + 2 styles x (translated, truth) rows of 4 characters.
    layout, last = result["montage_layout"], result["epochs"][0][-1]
    held_out = Image.open(run.parent.parent / "samples" / "run" / f"epoch_{last:03d}.png").convert("RGB")
    assert held_out.size == layout.cell_size == (4 * (SIZE + 2) + 2, 5 * (SIZE + 2) + 2)
    cell = Image.open(result["montage"]).crop(layout.boxes[(0, len(result["epochs"][0]) - 1)])
    assert np.array_equal(np.asarray(cell), np.asarray(held_out))
    from igan.report.runs import load_runs

    loaded = load_runs([run])[0]
    assert loaded.model == "UNet+conv" and "| UNet+conv |" in result["markdown"]
    # The paragraph speaks of the held-out scores, with the comparison.json's numbers.
    paragraph = result["verdict"]
    l1 = result["comparison"]["groups"][0]["metrics"]["final_l1"]["mean"]
    assert f"Final held-out L1: conv {l1:.4f}" in paragraph and "Best held-out SSIM (higher is better): conv" in paragraph
    assert "after 0.0 epochs" not in paragraph
    rows = loaded.rows
    assert rows[-1]["l1"] > 0 and rows[-1]["ssim_lxgw-wenkai"] > 0  # columns it does not know are kept
