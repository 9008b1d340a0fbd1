"""CIFAR-10 through torchvision, with a clear message where it is missing and cannot be downloaded."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

from torchvision.datasets import CIFAR10

from igan.errors import IganError


def _where_to_put_it(root: Path) -> str:
    folder = root / CIFAR10.base_folder
    return (
        f"Download {CIFAR10.url} on a machine with network access, extract it, and put the "
        f"'{CIFAR10.base_folder}' folder (data_batch_1..5, test_batch, batches.meta) at {folder}."
    )


def _check_writable(root: Path) -> None:
    """Fail before downloading 170 MB into a folder that cannot hold it, naming the folder.

    A real write is tried: permission bits say nothing for root or on read-only mounts.
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError as err:
        raise IganError(
            f"cannot download CIFAR-10 into {root} ({err.strerror or err}): set data.root to a writable "
            f"folder. {_where_to_put_it(root)}"
        ) from err


def load_cifar10(root: str | Path, transform: Callable, download: bool = True) -> CIFAR10:
    """The 50,000 training images; downloaded into ``root`` unless already there and intact.

    An intact copy is used as is, so a read-only ``root`` that holds one works.
    """
    root = Path(root)
    folder = root / CIFAR10.base_folder
    if root.exists() and not root.is_dir():
        raise IganError(f"data.root {root} is a file, not a folder: CIFAR-10 is kept in {folder}")
    try:
        return CIFAR10(str(root), train=True, transform=transform, download=False)
    except RuntimeError:  # torchvision: not found, or an md5 differs; fetch it below if allowed
        pass
    except OSError as err:
        raise IganError(f"cannot read CIFAR-10 under {folder} ({err})") from err
    if not download:
        raise IganError(f"CIFAR-10 is not available under {folder} and data.download is false.\n{_where_to_put_it(root)}")
    _check_writable(root)
    try:
        return CIFAR10(str(root), train=True, transform=transform, download=True)
    except (OSError, RuntimeError) as err:  # URLError is an OSError
        raise IganError(
            f"CIFAR-10 is not available under {folder} and could not be downloaded ({err}).\n{_where_to_put_it(root)}"
        ) from err
