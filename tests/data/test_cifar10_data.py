"""CIFAR-10 through torchvision's real loader, offline, on a tiny copy in the real format."""

import os

import pytest
from torchvision.datasets import CIFAR10

from igan.data import GANDataModule
from igan.errors import IganError


def test_tiny_cifar10_loads_through_torchvision(tiny_cifar10):
    dm = GANDataModule(name="cifar10", root=str(tiny_cifar10), image_size=32, channels=3, batch_size=16)
    dm.prepare_data()
    dm.setup("fit")
    assert len(dm.dataset) == 100  # 5 training batches of 20
    batch = next(iter(dm.train_dataloader()))
    assert batch.shape == (16, 3, 32, 32)
    assert -1 <= batch.min() < -0.9 and 0.9 < batch.max() <= 1


def test_cifar10_grayscale_64(tiny_cifar10):
    dm = GANDataModule(name="cifar10", root=str(tiny_cifar10), image_size=64, channels=1, batch_size=4)
    dm.setup("fit")
    assert next(iter(dm.train_dataloader())).shape == (4, 1, 64, 64)


def test_failed_download_says_where_to_put_the_folder(tmp_path, monkeypatch):
    # Port 9 (discard) on loopback refuses at once: the real download code fails as it would offline.
    monkeypatch.setattr(CIFAR10, "url", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    with pytest.raises(IganError) as info:
        GANDataModule(name="cifar10", root=str(tmp_path), image_size=32, channels=3).prepare_data()
    first, second = str(info.value).split("\n")
    assert first.startswith(f"CIFAR-10 is not available under {tmp_path / 'cifar-10-batches-py'} and could not be downloaded (")
    assert second == (f"Download http://127.0.0.1:9/cifar-10-python.tar.gz on a machine with network access, extract it, "
                      f"and put the 'cifar-10-batches-py' folder (data_batch_1..5, test_batch, batches.meta) at "
                      f"{tmp_path / 'cifar-10-batches-py'}.")


def test_no_download_allowed_says_so(tmp_path):
    dm = GANDataModule(name="cifar10", root=str(tmp_path), image_size=32, channels=3, download=False)
    with pytest.raises(IganError, match=r"^CIFAR-10 is not available under .* and data.download is false\.\nDownload "):
        dm.prepare_data()


def test_a_file_as_data_root_is_named(tmp_path):
    (tmp_path / "afile").write_text("x")
    dm = GANDataModule(name="cifar10", root=str(tmp_path / "afile"), image_size=32, channels=3)
    with pytest.raises(IganError, match=f"^data.root {tmp_path / 'afile'} is a file, not a folder"):
        dm.prepare_data()


def test_a_data_root_under_a_file_is_named_before_any_download(tmp_path, monkeypatch):
    monkeypatch.setattr(CIFAR10, "url", "http://127.0.0.1:9/never-fetched.tar.gz")
    (tmp_path / "afile").write_text("x")
    root = tmp_path / "afile" / "sub"
    dm = GANDataModule(name="cifar10", root=str(root), image_size=32, channels=3)
    with pytest.raises(IganError, match=f"^cannot download CIFAR-10 into {root} \\(Not a directory\\): set data.root"):
        dm.prepare_data()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod 0o500")
def test_a_read_only_data_root_is_named(tmp_path):
    root = tmp_path / "readonly"
    root.mkdir(mode=0o500)
    try:
        with pytest.raises(IganError, match=f"^cannot download CIFAR-10 into {root} \\(Permission denied\\)"):
            GANDataModule(name="cifar10", root=str(root), image_size=32, channels=3).prepare_data()
    finally:
        root.chmod(0o700)
