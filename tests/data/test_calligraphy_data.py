"""Kai glyph rendering from real fonts, the GB2312 character set, the on-disk cache."""

import hashlib
import json
import os
import shutil
import time
import warnings

import numpy as np
import pytest
from conftest import TEST_CHARS, requires_kai_font

from igan.data import GANDataModule, calligraphy
from igan.data.calligraphy import (
    DEFAULT_FONTS,
    cache_folder,
    gb2312_level1,
    load_or_build,
    render_glyph,
    resolve_font,
)
from igan.errors import IganError

CHARS = "永字八法"


def test_gb2312_level1_has_the_3755_common_characters():
    chars = gb2312_level1()
    assert len(chars) == 3755 == len(set(chars))
    assert chars[0] == "啊" and chars[-1] == "座"  # first and last of level 1 in code order
    assert "的" in chars and "一" in chars


@requires_kai_font
def test_glyph_is_dark_ink_centred_on_white_paper():
    from PIL import ImageFont

    face = resolve_font("LXGW WenKai") if _has("LXGW WenKai") else resolve_font(DEFAULT_FONTS[0])
    font = ImageFont.truetype(face.path, size=128, index=face.index)
    glyph = render_glyph(font, "国", image_size=64, margin=0.1)
    assert glyph.shape == (64, 64) and glyph.dtype == np.uint8
    assert glyph[0].min() == 255 and glyph[:, 0].min() == 255  # white paper at the border
    ink = np.argwhere(glyph < 128)
    assert len(ink) > 100  # the character is drawn
    top, left = ink.min(0)
    bottom, right = ink.max(0)
    assert max(bottom - top, right - left) + 1 >= round(64 * 0.8) - 2  # longer side fills 1 - 2*margin
    assert min(top, left) >= 64 * 0.1 - 2 and max(bottom, right) <= 64 * 0.9 + 1
    centre = ((top + bottom) / 2, (left + right) / 2)
    assert abs(centre[0] - 31.5) <= 1.5 and abs(centre[1] - 31.5) <= 1.5


def _has(family):
    try:
        resolve_font(family)
        return True
    except IganError:
        return False


@requires_kai_font
def test_datamodule_serves_glyphs_in_minus_one_one(tmp_path):
    dm = GANDataModule(name="calligraphy", root=str(tmp_path), image_size=32, channels=3, batch_size=8, chars=TEST_CHARS)
    dm.prepare_data()
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch.shape == (8, 3, 32, 32)
    assert batch.min() >= -1 and batch.max() <= 1 and batch.max() == 1  # white paper is +1
    assert len(dm.dataset) >= len(set(TEST_CHARS))


def test_missing_font_names_the_packages_to_install(tmp_path):
    dm = GANDataModule(name="calligraphy", root=str(tmp_path), fonts=["No Such Kai Font"])
    with pytest.raises(IganError, match="apt-get install -y fonts-arphic-ukai fonts-cwtex-kai fonts-lxgw-wenkai"):
        dm.prepare_data()
    assert not (tmp_path / "calligraphy").exists()


def _family():
    return next(f for f in DEFAULT_FONTS if _has(f))


def _entries(root):
    """Everything in <root>/calligraphy, hidden build folders included."""
    return sorted(p.name for p in (root / "calligraphy").iterdir())


def _build(root, size=32, fonts=None, chars=CHARS):
    return load_or_build(root, fonts or [_family()], chars, size, 0.08)


@requires_kai_font
def test_each_request_is_rendered_once_into_its_own_folder_and_sizes_live_side_by_side(tmp_path):
    family = _family()
    images = _build(tmp_path, 32)
    assert images.shape[1:] == (32, 32) and images.dtype == np.uint8 and 1 <= len(images) <= 4
    folder = cache_folder(tmp_path, [family], CHARS, 32, 0.08)
    assert folder.parent == tmp_path / "calligraphy" and folder.name.startswith("32px-")
    assert sorted(p.name for p in folder.iterdir()) == ["images.npy", "manifest.json"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["request"] == {"fonts": [family], "chars": CHARS, "image_size": 32, "margin": 0.08,
                                   "version": calligraphy.RENDER_VERSION}
    assert manifest["rendered"]["fonts"][0]["path"] == resolve_font(family).path  # recorded for information
    assert manifest["count"] == len(images) == len(manifest["labels"])
    assert manifest["sha256"] == hashlib.sha256((folder / "images.npy").read_bytes()).hexdigest()
    mtime = (folder / "images.npy").stat().st_mtime_ns

    bigger = _build(tmp_path, 48)
    assert bigger.shape[1:] == (48, 48)
    assert np.array_equal(_build(tmp_path, 32), images)  # back to 32 px: the first folder is still there
    assert (folder / "images.npy").stat().st_mtime_ns == mtime  # reused, not re-rendered
    big_folder = cache_folder(tmp_path, [family], CHARS, 48, 0.08)
    assert _entries(tmp_path) == sorted([folder.name, big_folder.name])  # no temporary folders left
    assert cache_folder(tmp_path, [family], CHARS, 32, 0.1) != folder  # margin is part of the key


@requires_kai_font
def test_characters_a_font_lacks_are_skipped_not_drawn_as_boxes(tmp_path):
    if not _has("cwTeXKai"):
        pytest.skip("cwTeXKai (fonts-cwtex-kai) not installed")
    chars = gb2312_level1()[:200]  # cwTeXKai is a traditional-Chinese font: lacks many simplified forms
    images = load_or_build(tmp_path, ["cwTeXKai"], chars, 32, 0.08)
    assert 0 < len(images) < len(chars)


def _replace_images(folder):
    np.save(folder / "images.npy", np.zeros_like(np.load(folder / "images.npy")))


def _wrong_count(folder):
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps(dict(manifest, count=manifest["count"] + 1)))


def _truncate(folder):
    data = (folder / "images.npy").read_bytes()
    (folder / "images.npy").write_bytes(data[: len(data) // 2])


@requires_kai_font
@pytest.mark.parametrize("damage", [_replace_images, _wrong_count, _truncate])
def test_damaged_cache_is_reported_once_and_rendered_again(tmp_path, damage):
    images = _build(tmp_path)
    folder = cache_folder(tmp_path, [_family()], CHARS, 32, 0.08)
    damage(folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = _build(tmp_path)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "damaged" in messages[0] and folder.name in messages[0]
    assert np.array_equal(again, images)
    assert np.array_equal(np.load(folder / "images.npy"), images)  # repaired on disk
    assert _entries(tmp_path) == [folder.name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(_build(tmp_path), images)  # sound again: no warning


def _no_fonts(monkeypatch):
    """This machine as one without any font: resolving a family fails, rendering is not allowed."""
    monkeypatch.setattr(calligraphy, "installed_faces", lambda: ())

    def render(*args, **kwargs):
        raise AssertionError("rendered although a matching cache exists")

    monkeypatch.setattr(calligraphy, "render_dataset", render)


@requires_kai_font
def test_a_copied_cache_trains_on_a_machine_without_the_fonts(tmp_path, monkeypatch):
    family = _family()
    kwargs = dict(name="calligraphy", image_size=32, channels=1, batch_size=2, fonts=[family], chars=CHARS)
    built = GANDataModule(root=str(tmp_path / "here"), **kwargs)
    built.setup("fit")
    shutil.copytree(tmp_path / "here", tmp_path / "there")  # data/ copied to another machine
    _no_fonts(monkeypatch)
    copied = GANDataModule(root=str(tmp_path / "there"), **kwargs)
    copied.prepare_data()
    copied.setup("fit")
    assert np.array_equal(copied.dataset.images.numpy(), built.dataset.images.numpy())
    other = GANDataModule(root=str(tmp_path / "there"), **dict(kwargs, chars="永字"))  # must render: needs the font
    with pytest.raises(IganError, match=f"CJK Kai font '{family}' is not installed"):
        other.prepare_data()


@requires_kai_font
def test_a_cache_built_from_a_font_file_outlives_the_file(tmp_path):
    face = resolve_font(_family())
    link = tmp_path / f"kai{os.path.splitext(face.path)[1]}"
    link.symlink_to(face.path)
    spec = f"{link}#{face.index}"
    images = _build(tmp_path / "data", fonts=[spec])
    link.unlink()
    assert np.array_equal(_build(tmp_path / "data", fonts=[spec]), images)
    with pytest.raises(IganError, match=f"font file not found: {link}"):
        _build(tmp_path / "data", size=24, fonts=[spec])


@requires_kai_font
def test_two_first_runs_at_once_share_one_cache(tmp_path, monkeypatch):
    """The other run publishes while this one renders: this one drops its build and serves theirs."""
    real_render = calligraphy.render_dataset
    folder = cache_folder(tmp_path, [_family()], CHARS, 32, 0.08)
    other = {}

    def render_while_another_run_finishes(spec, *args, **kwargs):
        if not other:
            other["started"] = True
            other["images"] = _build(tmp_path)  # the other run, start to finish
            other["inode"] = folder.stat().st_ino
        return real_render(spec, *args, **kwargs)

    monkeypatch.setattr(calligraphy, "render_dataset", render_while_another_run_finishes)
    images = _build(tmp_path)
    assert np.array_equal(images, other["images"])
    assert folder.stat().st_ino == other["inode"]  # the first published folder was kept, not replaced
    assert _entries(tmp_path) == [folder.name]  # this run's build folder is gone


@requires_kai_font
def test_an_interrupted_render_leaves_nothing_behind(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(calligraphy, "render_dataset", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _build(tmp_path)
    assert _entries(tmp_path) == []


@requires_kai_font
def test_abandoned_build_folders_are_removed_and_live_ones_kept(tmp_path):
    parent = tmp_path / "calligraphy"
    abandoned, live = parent / ".tmp-32px-abc-killed", parent / ".tmp-32px-abc-rendering"
    abandoned.mkdir(parents=True)
    live.mkdir()
    (abandoned / "images.npy").write_bytes(b"half")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(abandoned, (two_days_ago, two_days_ago))
    _build(tmp_path)
    assert not abandoned.exists() and live.is_dir()


@requires_kai_font
@pytest.mark.parametrize("where", ["afile", "afile/sub"])
def test_a_data_root_that_cannot_hold_the_cache_is_named(tmp_path, where):
    (tmp_path / "afile").write_text("not a folder")
    root = tmp_path / where
    dm = GANDataModule(name="calligraphy", root=str(root), image_size=32, fonts=[_family()], chars=CHARS)
    with pytest.raises(IganError) as info:
        dm.prepare_data()
    message = str(info.value)
    assert message.startswith(f"cannot write the calligraphy glyphs to {root / 'calligraphy'} (")
    assert f"data.root={root} must be a writable folder" in message


@requires_kai_font
@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod 0o500")
def test_a_read_only_data_root_is_named(tmp_path):
    root = tmp_path / "readonly"
    root.mkdir(mode=0o500)
    try:
        with pytest.raises(IganError, match="Permission denied"):
            _build(root)
    finally:
        root.chmod(0o700)
