"""``igan sample --truncation`` and ``--interpolate`` on the checkpoint of a real few-batch training:
the images are the generator's at the noise :mod:`igan.noise` defines, rows and animations hold the
frames asked for, and options that do not go together stop with one line before anything is written."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from test_sampling import ckpt, one_error, sample_main  # noqa: F401  (ckpt: the trained run's checkpoint)

from igan.io.images import grid_pixels
from igan.noise import interpolation_noise
from igan.sampling import generate_batches, load_generator, write_grid

SIZE = 32  # the tiny CIFAR-10 run's image size


def cells(path, count: int) -> np.ndarray:
    """The ``count`` images of a one-row grid (2 px padding), (count, S, S, C)."""
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape[:2] == (SIZE + 4, count * (SIZE + 2) + 2)
    return np.stack([image[2:2 + SIZE, 2 + i * (SIZE + 2):2 + i * (SIZE + 2) + SIZE] for i in range(count)])


def first_cell(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))[2:2 + SIZE, 2:2 + SIZE]


def test_truncated_grid_is_the_generator_at_truncated_noise_and_deterministic(ckpt, tmp_path):
    argv = ["--ckpt", str(ckpt), "--num", "9", "--seed", "2", "--truncation", "0.5"]
    assert sample_main([*argv, "--out", str(tmp_path / "a.png")]) == 0
    assert sample_main([*argv, "--out", str(tmp_path / "b.png")]) == 0
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    write_grid(generate_batches(load_generator(ckpt), 9, 2, truncation=0.5), tmp_path / "expected.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "expected.png").read_bytes()
    assert sample_main(["--ckpt", str(ckpt), "--num", "9", "--seed", "2", "--out", str(tmp_path / "plain.png")]) == 0
    assert (tmp_path / "plain.png").read_bytes() != (tmp_path / "a.png").read_bytes()


@pytest.mark.parametrize("path", ["slerp", "lerp"])
def test_row_runs_from_seed_a_first_image_to_seed_b(path, ckpt, tmp_path):
    for seed in (3, 11):
        assert sample_main(["--ckpt", str(ckpt), "--seed", str(seed), "--out", str(tmp_path / f"s{seed}.png")]) == 0
    out = tmp_path / "row.png"
    assert sample_main(["--ckpt", str(ckpt), "--interpolate", "3", "11", "--frames", "6", "--path", path,
                        "--out", str(out)]) == 0
    row = cells(out, 6)
    # the same z; a batch of 6 rather than 64 may round the convolutions' sums differently
    assert np.abs(row[0].astype(int) - first_cell(tmp_path / "s3.png")).max() <= 1
    assert np.abs(row[-1].astype(int) - first_cell(tmp_path / "s11.png")).max() <= 1
    generator = load_generator(ckpt)
    with torch.no_grad():
        expected = grid_pixels(generator(interpolation_noise(generator.latent_dim, 3, 11, 6, path)))
    assert np.array_equal(row, expected.permute(0, 2, 3, 1).numpy())


def test_slerp_and_lerp_share_the_ends_only(ckpt, tmp_path):
    rows = {}
    for path in ("slerp", "lerp"):
        out = tmp_path / f"{path}.png"
        assert sample_main(["--ckpt", str(ckpt), "--interpolate", "0", "1", "--frames", "5", "--path", path,
                            "--out", str(out)]) == 0
        rows[path] = cells(out, 5)
    assert np.array_equal(rows["slerp"][[0, -1]], rows["lerp"][[0, -1]])
    assert not np.array_equal(rows["slerp"][2], rows["lerp"][2])


@pytest.mark.parametrize("suffix, fmt", [(".gif", "GIF"), (".webp", "WEBP")])
def test_animation_has_one_frame_per_image(suffix, fmt, ckpt, tmp_path):
    row, animation = tmp_path / "row.png", tmp_path / f"walk{suffix}"
    common = ["--ckpt", str(ckpt), "--interpolate", "5", "6", "--frames", "7", "--truncation", "0.8"]
    assert sample_main([*common, "--out", str(row)]) == 0
    assert sample_main([*common, "--out", str(animation)]) == 0
    image = Image.open(animation)
    assert image.format == fmt and image.is_animated and image.n_frames == 7 and image.size == (SIZE, SIZE)
    frames = []
    for i in range(7):
        image.seek(i)
        frames.append(np.asarray(image.convert("RGB")))
    if fmt == "WEBP":  # lossless: exactly the row's images
        assert np.array_equal(np.stack(frames), cells(row, 7))
    else:  # a 256-colour palette per frame
        assert np.abs(np.stack(frames).astype(int) - cells(row, 7)).mean() < 8


@pytest.mark.parametrize("extra, message", [
    (["--interpolate", "1", "1"], "two different seeds"),
    (["--interpolate", "1", "2", "--frames", "1"], "--frames must be from 2 to 256"),
    (["--interpolate", "1", "2", "--num", "4"], "--num does not go with --interpolate"),
    (["--interpolate", "1", "2", "--seed", "4"], "--seed does not go with --interpolate"),
    (["--interpolate", "1", "2", "--chars", "永"], "--chars does not go with --interpolate"),
    (["--frames", "5"], "--frames goes with --interpolate"),
    (["--path", "lerp"], "--path goes with --interpolate"),
    (["--truncation", "0"], "--truncation must be at least 0.01"),
    (["--truncation", "-1"], "--truncation must be at least 0.01"),
    (["--truncation", "0.5", "--chars", "永"], "--truncation goes with noise"),
])
def test_options_that_do_not_go_together_stop_with_one_line(extra, message, ckpt, tmp_path, capsys):
    one_error(capsys, ["--ckpt", str(ckpt), *extra, "--out", str(tmp_path / "x.png")], message)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["x.bmp", "frames/"])
def test_interpolation_writes_a_row_or_an_animation_only(name, ckpt, tmp_path, capsys):
    one_error(capsys, ["--ckpt", str(ckpt), "--interpolate", "1", "2", "--out", str(tmp_path / name)],
              "--interpolate writes a row (.png, .jpg, .jpeg) or an animation (.gif, .webp)")
    assert not list(tmp_path.iterdir())


def test_an_existing_animation_is_kept_unless_overwrite(ckpt, tmp_path, capsys):
    out = tmp_path / "walk.gif"
    out.write_bytes(b"an earlier animation")
    argv = ["--ckpt", str(ckpt), "--interpolate", "1", "2", "--out", str(out)]
    one_error(capsys, argv, f"--out {out} exists", "--overwrite")
    assert out.read_bytes() == b"an earlier animation"
    assert sample_main([*argv, "--overwrite"]) == 0
    assert Image.open(out).n_frames == 8  # the default --frames
