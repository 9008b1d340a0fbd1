"""Pairs: rendered once through the hash-checked glyph cache, split by a stable hash of the character."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from conftest import TEST_CHARS, requires_kai_font

from igan.data import calligraphy
from igan.translation.data import PairsDataModule, is_held_out, load_pairs

SOURCE, STYLES = "AR PL UMing CN", ["AR PL UKai CN", "LXGW WenKai"]


def test_the_held_out_split_depends_on_the_character_alone():
    # Fixed answers: a change of the hash (or its reading) would move characters between the splits
    # of runs already trained and compared.
    chars = "的一是在不了有和人这中大为上个国我以要他时来用们生到"
    assert "".join(c for c in chars if is_held_out(c, 0.1)) == "在为以用"
    assert all(is_held_out(c, 0.5) for c in chars if is_held_out(c, 0.1))  # a larger share keeps the smaller one's


@requires_kai_font
def test_pairs_are_split_by_character_and_no_held_out_character_is_trained(calligraphy_root):
    data = PairsDataModule(root=str(calligraphy_root), chars=TEST_CHARS, styles=STYLES, image_size=32)
    data.setup("fit")
    pairs = data.pairs
    train_chars = {pairs.chars[i] for i in pairs.char_index[data.dataset.indices].tolist()}
    held_chars = {pairs.chars[i] for i in pairs.char_index[data.held_out.indices].tolist()}
    assert held_chars and train_chars and not train_chars & held_chars
    assert held_chars == {c for c in pairs.chars if is_held_out(c, 0.1)}
    assert len(data.dataset) + len(data.held_out) == len(pairs.targets)
    # Every held-out character in every style the fonts have: both styles cover these characters.
    assert len(data.held_out) == 2 * len(held_chars)
    source, target, style = data.dataset.__getitems__([0, 1, 2])
    assert source.shape == target.shape == (3, 1, 32, 32) and source.min() >= -1 and target.max() <= 1
    i = data.dataset.indices[1]
    expected = torch.from_numpy(pairs.targets[i].numpy()).float() / 127.5 - 1
    assert torch.equal(target[1, 0], expected) and style[1] == pairs.style_index[i]
    assert torch.equal(source[1, 0], pairs.sources[pairs.char_index[i]].float() / 127.5 - 1)


@requires_kai_font
def test_the_pairs_cache_is_reused_and_hash_checked(tmp_path, monkeypatch):
    chars = TEST_CHARS[:12]
    first = load_pairs(tmp_path, SOURCE, STYLES, chars, 16, 0.08)
    real_render = calligraphy.render_dataset

    def no_render(*args, **kwargs):
        raise AssertionError("rendered again although the cache is sound")

    monkeypatch.setattr(calligraphy, "render_dataset", no_render)
    again = load_pairs(tmp_path, SOURCE, STYLES, chars, 16, 0.08)
    assert torch.equal(first.targets, again.targets) and torch.equal(first.style_index, again.style_index)

    (npy,) = (tmp_path / "calligraphy").glob("*/images.npy")
    images = np.load(npy)
    images[0] = 255 - images[0]  # same shape and dtype, other pixels: only the sha256 can tell
    np.save(npy, images)
    renders = []
    monkeypatch.setattr(calligraphy, "render_dataset", lambda *a, **k: renders.append(1) or real_render(*a, **k))
    with pytest.warns(UserWarning, match="damaged"):
        repaired = load_pairs(tmp_path, SOURCE, STYLES, chars, 16, 0.08)
    assert renders == [1] and torch.equal(repaired.sources, first.sources)


@requires_kai_font
def test_characters_a_font_lacks_are_skipped_with_one_warning_that_counts_them(tmp_path):
    # U+0E01 (Thai) is in no CJK font; cwTeXKai is a traditional font without these simplified ones.
    chars = "永字这个\u0e01"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pairs = load_pairs(tmp_path, SOURCE, ["AR PL UKai CN", "cwTeXKai"], chars, 16, 0.08)
    skipped = [w for w in caught if "skipped characters" in str(w.message)]
    assert len(skipped) == 1
    assert "1 in the source font" in str(skipped[0].message) and "2 in 'cwTeXKai'" in str(skipped[0].message)
    assert pairs.chars == "永字这个"
    assert pairs.style_index.tolist().count(0) == 4 and pairs.style_index.tolist().count(1) == 2


@pytest.mark.parametrize("source, styles, role", [
    ("No Such Ming", ["AR PL UKai CN"], "the printed source font (data.source_font) 'No Such Ming'"),
    ("AR PL UMing CN", ["AR PL UKai CN", "No Such Kai"], "a style font (data.styles) 'No Such Kai'"),
])
def test_a_missing_font_is_named_with_its_setting_and_the_translation_packages(tmp_path, source, styles, role):
    from igan.errors import IganError
    from igan.translation.data import FONT_PACKAGES

    with pytest.raises(IganError) as info:
        load_pairs(tmp_path, source, styles, "永字", 16, 0.08)
    assert str(info.value).startswith(f"{role} is not installed") and FONT_PACKAGES in str(info.value)
    assert "data.fonts" not in str(info.value)
