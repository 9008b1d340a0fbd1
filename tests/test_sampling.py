"""``sample.py``'s outputs: the grid's format follows its suffix, folders are written batch by batch, and
requests it cannot honour (an unknown suffix, an oversized grid) stop with one line.

``sample.py`` runs in-process (its ``main``) against a checkpoint of a real 1-epoch training run.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
import torch
from conftest import REPO
from PIL import Image
from training.test_failures import RUN, cli_args

from igan.noise import fixed_noise
from igan.sampling import generate_batches, load_generator, noise_batches, write_folder, write_grid
from igan.training.cli import main as train

sample_main = runpy.run_path(str(REPO / "sample.py"), run_name="sample")["main"]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    from conftest import write_tiny_cifar10  # a module-scoped run: the md5 patch is applied here by hand
    from torchvision.datasets import CIFAR10

    from conftest import _md5

    tmp = tmp_path_factory.mktemp("sample")
    folder = write_tiny_cifar10(tmp / "cifar")
    saved = CIFAR10.train_list, CIFAR10.test_list, CIFAR10.meta
    CIFAR10.train_list = [[f"data_batch_{i}", _md5(folder / f"data_batch_{i}")] for i in range(1, 6)]
    CIFAR10.test_list = [["test_batch", _md5(folder / "test_batch")]]
    CIFAR10.meta = dict(CIFAR10.meta, md5=_md5(folder / "batches.meta"))
    try:
        assert train(cli_args(tmp / "out", tmp / "cifar", "--trainer.logger=false")) == 0
    finally:
        CIFAR10.train_list, CIFAR10.test_list, CIFAR10.meta = saved
    return tmp / "out" / "runs" / RUN / "checkpoints" / "last.ckpt"


def one_error(capsys, argv: list[str], *expected: str) -> None:
    assert sample_main(argv) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    for text in expected:
        assert text in errors[0], errors[0]


@pytest.mark.parametrize("suffix, fmt", [(".png", "PNG"), (".jpg", "JPEG"), (".JPEG", "JPEG"), (".webp", "WEBP")])
def test_grid_format_follows_the_suffix(suffix, fmt, ckpt, tmp_path, capsys):
    out = tmp_path / f"grid{suffix}"
    assert sample_main(["--ckpt", str(ckpt), "--num", "9", "--out", str(out)]) == 0
    image = Image.open(out)
    assert image.format == fmt and image.size == (3 * 34 + 2,) * 2
    assert f"wrote {out}" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["x.gif", "notes.txt"])
def test_unknown_suffix_is_one_error_and_writes_nothing(name, ckpt, tmp_path, capsys):
    one_error(capsys, ["--ckpt", str(ckpt), "--out", str(tmp_path / name)], f"--out {tmp_path / name}",
              "not an image format", ".png, .jpg, .jpeg, .webp")
    assert not list(tmp_path.iterdir())


def test_a_folder_is_a_path_without_suffix_or_ending_in_a_slash(ckpt, tmp_path):
    assert sample_main(["--ckpt", str(ckpt), "--num", "3", "--out", str(tmp_path / "plain")]) == 0
    assert sample_main(["--ckpt", str(ckpt), "--num", "3", "--out", f"{tmp_path / 'run.v2'}/"]) == 0
    for folder in ("plain", "run.v2"):
        assert sorted(p.name for p in (tmp_path / folder).iterdir()) == ["00000.png", "00001.png", "00002.png"]


def test_oversized_grid_is_refused_before_any_work(tmp_path, capsys):
    one_error(capsys, ["--ckpt", str(tmp_path / "never-read.ckpt"), "--num", "4097", "--out", str(tmp_path / "g.png")],
              "--num 4097 is too many for one grid (at most 4096)")


def test_batches_give_the_same_images_as_one_draw(ckpt, tmp_path):
    """Batch by batch equals all at once: the same noise (exactly), images (to float rounding: convolutions
    sum in a batch-size dependent order) and, for one batch size, the same files as one batch written whole."""
    generator = load_generator(ckpt)
    assert torch.equal(torch.cat(list(noise_batches(37, generator.latent_dim, 3, batch_size=5))),
                       fixed_noise(37, generator.latent_dim, 3))
    torch.testing.assert_close(torch.cat(list(generate_batches(generator, 37, seed=3, batch_size=5))),
                               torch.cat(list(generate_batches(generator, 37, seed=3, batch_size=10_000))),
                               rtol=0, atol=1e-5)
    whole = torch.cat(list(generate_batches(generator, 37, seed=3, batch_size=16)))
    write_folder([whole], tmp_path / "whole")
    assert sample_main(["--ckpt", str(ckpt), "--num", "37", "--seed", "3", "--batch_size", "16",
                        "--out", str(tmp_path / "batched")]) == 0
    assert [p.read_bytes() for p in sorted((tmp_path / "batched").iterdir())] == \
           [p.read_bytes() for p in sorted((tmp_path / "whole").iterdir())]
    assert sample_main(["--ckpt", str(ckpt), "--num", "37", "--seed", "3", "--batch_size", "16",
                        "--out", str(tmp_path / "batched.png")]) == 0
    write_grid([whole], tmp_path / "whole.png")
    assert (tmp_path / "batched.png").read_bytes() == (tmp_path / "whole.png").read_bytes()


def test_a_folder_is_written_while_generating(tmp_path):
    """Constant memory: each batch is on disk before the next is generated, and none is kept."""
    seen = []

    def batches():
        for i in range(3):
            seen.append(len(list(tmp_path.glob("out/*.png"))))
            yield torch.rand(4, 1, 8, 8) * 2 - 1

    paths = write_folder(batches(), tmp_path / "out")
    assert seen == [0, 4, 8] and len(paths) == 12


def test_progress_bar_counts_images(ckpt, tmp_path, capsys):
    assert sample_main(["--ckpt", str(ckpt), "--num", "20", "--batch_size", "16", "--out", str(tmp_path / "d")]) == 0
    captured = capsys.readouterr()
    assert "generating:" in captured.err and "/20 [" in captured.err
    assert f"wrote 20 images in {tmp_path / 'd'}" in captured.out


def test_help_says_which_paths_are_folders(capsys):
    with pytest.raises(SystemExit):
        sample_main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert ".jpg" in text and ".webp" in text and "a path without a suffix, or ending in /" in text


@pytest.mark.parametrize("out, existing", [("grid.png", "grid.png"), ("folder", "folder/00001.png")])
def test_existing_samples_are_kept_unless_overwrite_is_given(out, existing, ckpt, tmp_path, capsys):
    (tmp_path / existing).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / existing).write_bytes(b"an earlier sample")
    argv = ["--ckpt", str(ckpt), "--num", "3", "--out", str(tmp_path / out)]
    one_error(capsys, argv, f"--out {tmp_path / existing} exists", "--overwrite")
    assert (tmp_path / existing).read_bytes() == b"an earlier sample"
    assert sample_main([*argv, "--overwrite"]) == 0
    assert Image.open(tmp_path / existing).format == "PNG"
