"""Bad input through the real CLI: exit 2, exactly one ``error:`` line, no traceback, nothing lost.

Most cases call ``igan.training.cli.main`` in-process (fast); a few run ``train_gan.py`` / ``sample.py`` as
subprocesses to see the real exit status and stderr. Each case that could touch an earlier run
starts beside one (last.ckpt, metrics.csv, grids, config.yaml) and checks that every file of it
is still there, byte for byte.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO
from PIL import Image

from igan.io.checkpoint_file import load_checkpoint_file
from igan.errors import IganError
from igan.training.cli import main

RUN = "cifar10-dcgan-s0"
TINY = ["--model.generator.init_args.width=8", "--model.discriminator.init_args.width=8",
        "--trainer.limit_train_batches=2", "--data.batch_size=8", "--data.num_workers=0",
        "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
        "--metrics.every_n_epochs=0", "--samples.num=16", "--trainer.max_epochs=1"]


def cli_args(out: Path, data: Path, *extra: str, config: str = "cifar10_dcgan.yaml") -> list[str]:
    return ["--config", str(REPO / "configs" / config), *TINY, f"--data.root={data}",
            f"--trainer.default_root_dir={out / 'runs'}", f"--samples_root={out / 'samples'}", *extra]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and "wandb" not in p.parts}


def assert_nothing_lost(folder: Path, before: dict[str, bytes]) -> None:
    after = snapshot(folder)
    lost = [name for name, data in before.items() if after.get(name) != data]
    assert not lost, f"changed or deleted: {lost}"


def fails_cleanly(capsys, argv: list[str], *expected: str) -> str:
    """``main(argv)`` returns 2 with exactly one ``error:`` line, containing each of ``expected``."""
    code = main(argv)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2, err[-3000:]
    assert len(errors) == 1, err[-3000:]
    assert "Traceback" not in err
    for text in expected:
        assert text in errors[0], errors[0]
    return errors[0]


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
    return {**env, "PYTHONPATH": str(REPO), "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1", **extra}


def run_script(script: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / script), *argv], capture_output=True, text=True, cwd=REPO,
                          env=subprocess_env(), timeout=300)


def assert_one_error(result: subprocess.CompletedProcess, *expected: str) -> str:
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2, result.stderr[-3000:]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    for text in expected:
        assert text in errors[0], errors[0]
    return errors[0]


@pytest.fixture
def earlier_run(tiny_cifar10, tmp_path):
    """A finished 1-epoch run under ``tmp_path/out``, and the bytes of all its files."""
    out = tmp_path / "out"
    assert main(cli_args(out, tiny_cifar10)) == 0
    assert (out / "runs" / RUN / "checkpoints" / "last.ckpt").is_file()
    return out, snapshot(out)


def image_folder(root: Path, count: int = 24, size: int = 40) -> Path:
    rng = np.random.default_rng(0)
    for i in range(count):
        (root / f"style{i % 2}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / f"style{i % 2}" / f"{i}.png")
    return root


class Exploit:
    """Unpickling this runs ``open(marker, 'w')``: a stand-in for any code a crafted file could run."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def malicious_ckpt(tmp_path) -> tuple[Path, Path]:
    """``x.ckpt``, a real torch.save zip whose pickle would create ``marker`` when loaded unsafely."""
    marker, path = tmp_path / "pwned", tmp_path / "x.ckpt"
    torch.save({"state_dict": {}, "payload": Exploit(marker)}, path)
    torch.load(path, weights_only=False)["payload"].close()  # sanity: an unsafe load does run it
    assert marker.exists()
    marker.unlink()
    return path, marker


# ------------------------------------------------------------------ unsafe checkpoints


def test_crafted_pickle_is_refused_by_load_checkpoint_file(malicious_ckpt):
    path, marker = malicious_ckpt
    with pytest.raises(IganError, match="refusing to unpickle"):
        load_checkpoint_file(path)
    assert not marker.exists()


def test_crafted_pickle_is_refused_on_resume(malicious_ckpt, earlier_run, tiny_cifar10, capsys):
    (path, marker), (out, before) = malicious_ckpt, earlier_run
    fails_cleanly(capsys, cli_args(out, tiny_cifar10, f"--ckpt_path={path}"), str(path), "refusing to unpickle")
    assert not marker.exists()
    assert_nothing_lost(out, before)


def test_crafted_pickle_is_refused_by_sample_py(malicious_ckpt, tmp_path):
    path, marker = malicious_ckpt
    result = run_script("sample.py", "--ckpt", str(path), "--num", "4", "--out", str(tmp_path / "s.png"))
    assert_one_error(result, "refusing to unpickle")
    assert not marker.exists() and not (tmp_path / "s.png").exists()


# ------------------------------------------------------------------ --ckpt_path


def test_ckpt_path_missing_file(earlier_run, tiny_cifar10, tmp_path, capsys):
    out, before = earlier_run
    fails_cleanly(capsys, cli_args(out, tiny_cifar10, f"--ckpt_path={tmp_path / 'nope.ckpt'}"), "checkpoint not found")
    assert_nothing_lost(out, before)


def test_ckpt_path_last_without_a_run(tiny_cifar10, tmp_path, capsys):
    fails_cleanly(capsys, cli_args(tmp_path / "fresh", tiny_cifar10, "--ckpt_path=last"), "no last.ckpt")


def test_ckpt_path_not_a_checkpoint(earlier_run, tiny_cifar10, tmp_path, capsys):
    out, before = earlier_run
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint")
    fails_cleanly(capsys, cli_args(out, tiny_cifar10, f"--ckpt_path={text}"), "not a PyTorch checkpoint")
    plain = tmp_path / "weights.ckpt"
    torch.save({"w": torch.ones(2)}, plain)  # a zip checkpoint, but not of a training run
    fails_cleanly(capsys, cli_args(out, tiny_cifar10, f"--ckpt_path={plain}"), "not an igan training checkpoint")
    assert_nothing_lost(out, before)


def test_ckpt_path_of_another_model(earlier_run, tiny_cifar10, capsys):
    out, before = earlier_run
    fails_cleanly(capsys, cli_args(out, tiny_cifar10, "--ckpt_path=last", f"--run_name={RUN}",
                                   "--model.generator.init_args.width=16"),
                  "holds another generator", "resume with the config it was trained with")
    fails_cleanly(capsys, cli_args(out, tiny_cifar10, "--ckpt_path=last", f"--run_name={RUN}", config="cifar10_sagan.yaml"),
                  "holds another generator (igan.models.dcgan.DCGANGenerator", "SAGANGenerator")
    assert_nothing_lost(out, before)


def test_ckpt_path_of_another_dataset_or_image_size(earlier_run, tiny_cifar10, tmp_path, capsys):
    out, before = earlier_run
    folder = image_folder(tmp_path / "images")
    fails_cleanly(capsys, cli_args(out, folder, "--ckpt_path=last", f"--run_name={RUN}", "--data.name=folder"),
                  "was trained on data.name='cifar10', this run has 'folder'")
    fails_cleanly(capsys, cli_args(out, folder, "--ckpt_path=last", f"--run_name={RUN}", "--data.name=folder",
                                   "--data.image_size=64"),
                  "holds another generator")  # the image size is part of the networks' spec
    assert_nothing_lost(out, before)


# ------------------------------------------------------------------ data


def test_folder_root_that_does_not_exist(tmp_path, capsys):
    fails_cleanly(capsys, cli_args(tmp_path / "out", tmp_path / "missing", "--data.name=folder"),
                  "image folder not found")


def test_empty_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    fails_cleanly(capsys, cli_args(tmp_path / "out", tmp_path / "empty", "--data.name=folder"),
                  "no readable images", "it holds no files")


def test_folder_of_only_unreadable_files(tmp_path, capsys):
    root = tmp_path / "junk"
    (root / "a").mkdir(parents=True)
    for i in range(3):
        (root / "a" / f"{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n but not really" * (i + 1))
    fails_cleanly(capsys, cli_args(tmp_path / "out", root, "--data.name=folder"),
                  "no readable images", "none of its 3 file(s) could be read as an image")


def test_font_that_is_not_installed(tmp_path, capsys):
    fails_cleanly(capsys, cli_args(tmp_path / "out", tmp_path / "data", "--data.fonts=[No Such Kai Font]",
                                   "--data.chars=的一是", config="calligraphy_dcgan.yaml"),
                  "No Such Kai Font", "not installed")


def test_batch_size_zero(tmp_path, tiny_cifar10, capsys):
    fails_cleanly(capsys, cli_args(tmp_path / "out", tiny_cifar10, "--data.batch_size=0"), "data.batch_size must be >= 1")


def test_batch_larger_than_the_dataset(tmp_path, capsys):
    folder = image_folder(tmp_path / "images", count=4)
    fails_cleanly(capsys, cli_args(tmp_path / "out", folder, "--data.name=folder", "--data.batch_size=8"),
                  "fewer than data.batch_size=8")


# ------------------------------------------------------------------ models and optimisation


def test_negative_learning_rate(tmp_path, tiny_cifar10, capsys):
    fails_cleanly(capsys, cli_args(tmp_path / "out", tiny_cifar10, "--model.lr_g=-1"), "model.lr_g must be > 0")


def test_unsupported_image_size(tmp_path, capsys):
    folder = image_folder(tmp_path / "images")
    fails_cleanly(capsys, cli_args(tmp_path / "out", folder, "--data.name=folder", "--data.image_size=48"),
                  "image_size must be a power of two", "48")


def test_group_channels_not_dividing_a_stage(tmp_path, tiny_cifar10, capsys):
    fails_cleanly(capsys, cli_args(tmp_path / "out", tiny_cifar10, "--model.generator.init_args.width=24",
                                   config="cifar10_idcgan.yaml"),
                  "group_channels")


def test_bad_input_as_a_subprocess_has_no_traceback(tmp_path, tiny_cifar10):
    for extra, expected in ((["--data.batch_size=0"], "data.batch_size must be >= 1"),
                            (["--model.lr_g=-1"], "model.lr_g must be > 0"),
                            ([f"--ckpt_path={tmp_path / 'nope.ckpt'}"], "checkpoint not found")):
        result = run_script("train_gan.py", *cli_args(tmp_path / "out", tiny_cifar10, *extra))
        assert_one_error(result, expected)


# ------------------------------------------------------------------ writing output


def test_sample_py_output_that_cannot_be_written(earlier_run, tmp_path):
    out, _ = earlier_run
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run_script("sample.py", "--ckpt", str(out / "runs" / RUN / "checkpoints" / "last.ckpt"), "--num", "4",
                        "--out", str(blocker / "grid.png"))
    assert_one_error(result, str(blocker))


@pytest.mark.parametrize("errno, strerror", [(28, "No space left on device"), (30, "Read-only file system")])
def test_failed_checkpoint_write_keeps_the_previous_last_ckpt(errno, strerror, tiny_cifar10, tmp_path, monkeypatch,
                                                              capsys):
    out = tmp_path / "out"
    last = out / "runs" / RUN / "checkpoints" / "last.ckpt"
    real_save, calls, seen = torch.save, {"n": 0}, {}

    def flaky_save(obj, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the second checkpoint: end of epoch 2
            seen["before"] = last.read_bytes()
            f.write(b"half a checkpoint")
            raise OSError(errno, strerror)
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", flaky_save)
    line = fails_cleanly(capsys, cli_args(out, tiny_cifar10, "--trainer.max_epochs=2"),
                         f"could not write checkpoint {last} ({strerror}); the previous one is kept")
    assert line
    assert last.read_bytes() == seen["before"]
    assert load_checkpoint_file(last)["global_step"] == 2  # epoch 1's, intact and loadable
    assert not list(last.parent.glob(".*.tmp"))


# ------------------------------------------------------------------ W&B outage


def test_wandb_online_without_network_warns_and_logs_offline(tmp_path):
    """WANDB_MODE=online, server unreachable: one warning within 30 s, then the run logs offline and finishes."""
    import threading
    import time

    folder = image_folder(tmp_path / "images")
    out = tmp_path / "out"
    env = subprocess_env(WANDB_MODE="online", WANDB_BASE_URL="http://127.0.0.1:9", WANDB_API_KEY="0123456789" * 4)
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, str(REPO / "train_gan.py"),
                             *cli_args(out, folder, "--data.name=folder", "--trainer.limit_train_batches=1")],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(target=lambda: lines.extend((time.monotonic() - start, line) for line in proc.stderr))
    reader.start()
    try:
        stdout = proc.stdout.read()
        proc.wait(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
        reader.join(timeout=10)
    err = "".join(line for _, line in lines)
    assert proc.returncode == 0, err[-3000:]
    warnings = [(t, line) for t, line in lines if line.startswith("warning: W&B is unavailable")]
    assert len(warnings) == 1, err[-3000:]
    assert warnings[0][0] < 30 and "cannot reach http://127.0.0.1:9" in warnings[0][1]
    assert "logging offline instead" in warnings[0][1] and "Traceback" not in err
    assert list((out / "runs" / "wandb").glob("offline-run-*/run-*.wandb"))
    assert "(offline; upload with: wandb sync" in stdout


def test_wandb_init_failing_online_falls_back_to_offline(tiny_cifar10, tmp_path, monkeypatch, capsys):
    """The server answers the check but wandb.init then fails: the run restarts offline, once, and finishes."""
    import wandb

    import igan.training.wandb_logging

    real_init, calls = wandb.init, {"n": 0}

    def failing_init(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise wandb.errors.CommError("context deadline exceeded")
        return real_init(*args, **kwargs)

    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setattr(igan.training.wandb_logging, "online_problem", lambda timeout=0: None)
    monkeypatch.setattr(wandb, "init", failing_init)
    out = tmp_path / "out"
    assert main(cli_args(out, tiny_cifar10)) == 0
    err = capsys.readouterr().err
    assert err.count("warning: W&B failed to start online (CommError: context deadline exceeded)") == 1
    assert calls["n"] == 2 and os.environ["WANDB_MODE"] == "offline"
    assert (out / "runs" / RUN / "checkpoints" / "last.ckpt").is_file()


# ------------------------------------------------------------------ failed writes (issue 22)


@pytest.mark.parametrize("raised", ["oserror", "torch-runtime-error"])
def test_checkpoint_write_failing_as_torch_does_names_the_path_and_cause(raised, tiny_cifar10, tmp_path, monkeypatch,
                                                                        capsys):
    """torch's zip writer reports a full disk as ``RuntimeError: unexpected pos`` with the OSError as context."""
    out = tmp_path / "out"
    last = out / "runs" / RUN / "checkpoints" / "last.ckpt"
    real_save, calls = torch.save, {"n": 0}

    def full_disk(obj, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            f.write(b"half a checkpoint")
            if raised == "oserror":
                raise OSError(28, "No space left on device")
            try:
                raise OSError(28, "No space left on device")
            except OSError:
                raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_disk)
    fails_cleanly(capsys, cli_args(out, tiny_cifar10, "--trainer.max_epochs=2", "--trainer.logger=false"),
                  f"could not write checkpoint {last} (No space left on device); the previous one is kept")
    assert load_checkpoint_file(last)["global_step"] == 2
    assert not list(last.parent.glob(".*.tmp"))


def test_grid_write_failing_names_the_grid(tiny_cifar10, tmp_path, monkeypatch, capsys):
    from PIL import Image as PILImage

    out = tmp_path / "out"
    real_save = PILImage.Image.save

    def full_disk(self, fp, *args, **kwargs):
        if "epoch_001" in str(fp):
            Path(fp).write_bytes(b"half a png")
            raise OSError(28, "No space left on device")
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(PILImage.Image, "save", full_disk)
    grid = out / "samples" / RUN / "epoch_001.png"
    fails_cleanly(capsys, cli_args(out, tiny_cifar10, "--trainer.logger=false"),
                  f"cannot write {grid} (No space left on device)")
    assert not grid.exists() and (out / "samples" / RUN / "epoch_000.png").is_file()
    assert not [p for p in grid.parent.iterdir() if p.name.endswith(".tmp")]


def test_config_yaml_that_cannot_be_written(tiny_cifar10, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "runs" / RUN / "config.yaml").mkdir(parents=True)  # a folder in the way: the rename fails
    fails_cleanly(capsys, cli_args(out, tiny_cifar10, "--trainer.logger=false"),
                  f"cannot write {out / 'runs' / RUN / 'config.yaml'} (Is a directory)")


def test_an_unnamed_write_failure_is_one_line(tiny_cifar10, tmp_path, monkeypatch, capsys):
    """An OSError that no writer turned into a message, with no file name (here raised where the grid
    is drawn), still ends in one line naming the cause, exit 2."""
    import errno
    import os

    import igan.training.callbacks

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(igan.training.callbacks, "grid_array", no_space)
    out = tmp_path / "out"
    fails_cleanly(capsys, cli_args(out, tiny_cifar10, "--trainer.logger=false"),
                  "a write failed (No space left on device)")


def test_a_metrics_csv_that_cannot_be_written_is_named(tiny_cifar10, tmp_path, monkeypatch, capsys):
    """metrics.csv's own writer names the file (not its temporary file); the run keeps no half-written file."""
    import igan.io.files

    real_open = open

    def failing_open(file, mode="r", *args, **kwargs):
        if Path(file).name.startswith(".metrics.csv.") and "b" in mode and "r" not in mode:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(igan.io.files, "open", failing_open, raising=False)
    out = tmp_path / "out"
    fails_cleanly(capsys, cli_args(out, tiny_cifar10, "--trainer.logger=false"),
                  f"cannot write {out / 'runs' / RUN / 'metrics.csv'} (Permission denied)")
    assert not list((out / "runs" / RUN).glob(".*.tmp"))


@pytest.fixture
def small_filesystem(tmp_path):
    """A fresh tmpfs (``mount`` needs root, as in CI); yields a function that mounts one of a given size."""
    mounts = []

    def mount(name: str, size: int) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {result.stderr.strip()}")
        mounts.append(folder)
        return folder

    yield mount
    for folder in mounts:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_full_disk_for_real_keeps_the_last_good_checkpoint(earlier_run, tiny_cifar10, small_filesystem, capsys):
    """A tmpfs with room for one checkpoint: epoch 1's is written, epoch 2's does not fit beside it."""
    out, _ = earlier_run
    size = (out / "runs" / RUN / "checkpoints" / "last.ckpt").stat().st_size
    disk = small_filesystem("disk", size + size // 2)
    last = disk / "runs" / RUN / "checkpoints" / "last.ckpt"
    line = fails_cleanly(capsys, [*cli_args(out, tiny_cifar10, "--trainer.max_epochs=2", "--trainer.logger=false"),
                                  f"--trainer.default_root_dir={disk / 'runs'}"],
                         f"could not write checkpoint {last} (No space left on device); the previous one is kept")
    assert line
    assert load_checkpoint_file(last)["global_step"] == 2  # epoch 1's, complete
    assert not list(last.parent.glob(".*.tmp"))


def test_full_disk_for_real_before_the_first_checkpoint(tiny_cifar10, small_filesystem, tmp_path, capsys):
    disk = small_filesystem("disk", 64 * 1024)
    fails_cleanly(capsys, [*cli_args(tmp_path / "out", tiny_cifar10, "--trainer.logger=false"),
                           f"--trainer.default_root_dir={disk / 'runs'}"],
                  f"could not write checkpoint {disk / 'runs' / RUN / 'checkpoints' / 'last.ckpt'} "
                  "(No space left on device)")
    assert not list((disk / "runs" / RUN / "checkpoints").iterdir())


def test_full_disk_for_real_fid_cache(small_filesystem):
    from igan.metrics.cache import _save_atomically

    disk = small_filesystem("disk", 64 * 1024)
    with pytest.raises(IganError, match=f"cannot write the FID feature cache {disk / 'x.pt'} "
                                        r"\(No space left on device\)"):
        _save_atomically(disk / "x.pt", {"pool": torch.zeros(100_000)})
    assert not list(disk.iterdir())


def test_full_disk_for_real_glyph_cache(small_filesystem, tmp_path, capsys):
    from conftest import TEST_CHARS, kai_fonts_installed

    if not kai_fonts_installed():
        pytest.skip("no CJK Kai font installed")
    disk = small_filesystem("disk", 16 * 1024)
    fails_cleanly(capsys, cli_args(tmp_path / "out", disk, f"--data.chars={TEST_CHARS}", "--trainer.logger=false",
                                   config="calligraphy_dcgan.yaml"),
                  f"cannot write the calligraphy glyphs to {disk}", "(No space left on device)")
    assert not [p for p in (disk / "calligraphy").iterdir()]  # the unpublished build folder is gone
