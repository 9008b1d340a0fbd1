"""CIFAR-10 through torchvision, with a clear message where the download cannot happen."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from torchvision.datasets import CIFAR10

from igan.errors import IganError


def load_cifar10(root: str | Path, transform: Callable, download: bool = True) -> CIFAR10:
    """The 50,000 training images; downloaded into ``root`` unless already there and intact."""
    try:
        return CIFAR10(str(root), train=True, transform=transform, download=download)
    except (OSError, RuntimeError) as err:  # URLError is an OSError; torchvision raises RuntimeError when absent
        folder = Path(root) / CIFAR10.base_folder
        raise IganError(
            f"CIFAR-10 is not available under {folder} and could not be downloaded ({err}).\n"
            f"Download {CIFAR10.url} on a machine with network access, extract it, and put the "
            f"'{CIFAR10.base_folder}' folder (data_batch_1..5, test_batch, batches.meta) at {folder}."
        ) from err
