"""CIFAR-10 through torchvision's real loader, offline, on a tiny copy in the real format."""

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
    dm = GANDataModule(name="cifar10", root=str(tmp_path), image_size=32, channels=3)
    with pytest.raises(IganError) as info:
        dm.prepare_data()
    message = str(info.value)
    assert "cifar-10-batches-py" in message and str(tmp_path / "cifar-10-batches-py") in message
