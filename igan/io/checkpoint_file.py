"""Read a training checkpoint without executing pickled code; shared by training, sampling and reports."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from igan.errors import IganError


def load_checkpoint_file(path: str | Path, map_location: Any = "cpu") -> dict:
    """A checkpoint's dict, loaded with ``weights_only=True``; IganError for anything else."""
    path = Path(path)
    if not path.is_file():
        raise IganError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        raise IganError(f"{path} is not a PyTorch checkpoint")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise IganError(f"{path} holds objects other than tensors and plain data; refusing to unpickle it") from err
    except (zipfile.BadZipFile, RuntimeError, EOFError, OSError) as err:
        raise IganError(f"{path} is not a loadable checkpoint: {str(err).splitlines()[0]}") from err
    if not isinstance(ckpt, dict):
        raise IganError(f"{path} is not an igan training checkpoint")
    return ckpt
