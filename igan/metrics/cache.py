"""On-disk cache of real-image Inception features: extracted once per dataset, reused by every run.

Real images do not change between epochs or runs, but pushing N of them through Inception
costs as much as one whole evaluation of generated images. The features are stored per
(dataset key, image shape, sample count, extractor) -- any change of those makes a new file.
Pool features are stored rather than FID's mean/covariance because KID needs the features.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Iterable

import torch
from torch import Tensor

from igan.io.files import atomic_torch_save
from igan.metrics.inception import InceptionFeatures


def _safe(text: str) -> str:
    """A file-name-safe version of ``text``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "data"


def cache_path(cache_dir: str | Path, key: str, image_shape: tuple[int, ...], num: int, extractor_name: str) -> Path:
    """``<cache_dir>/<key>-<C>x<H>x<W>-n<num>-<extractor>.pt``."""
    shape = "x".join(str(s) for s in image_shape)
    return Path(cache_dir) / f"{_safe(key)}-{shape}-n{num}-{_safe(extractor_name)}.pt"


def _load(path: Path, num: int, num_features: int) -> Tensor | None:
    """The cached features, or None when the file is absent, unreadable or of the wrong shape."""
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        features = payload["pool"]
    except Exception:  # a truncated or foreign file is rebuilt, not fatal
        return None
    if not isinstance(features, Tensor) or tuple(features.shape) != (num, num_features):
        return None
    return features.float()


def _save_atomically(path: Path, payload: dict) -> None:
    """Write all or nothing: readers never see half a file, a full disk ends in one error naming it."""
    atomic_torch_save(payload, path, message="cannot write the FID feature cache {path} ({cause})")


def cached_real_features(
    path: str | Path,
    extractor: InceptionFeatures,
    num: int,
    images: Callable[[], Iterable[Tensor]],
    write: bool = True,
) -> tuple[Tensor, bool]:
    """Pool features of ``num`` real images from ``path``, computed and stored when missing.

    Args:
        path: the cache file, usually from :func:`cache_path`.
        extractor: computes the features when they are not cached.
        num: the number of real images ``images()`` yields in total.
        images: called only on a cache miss; yields batches of real images.
        write: store a computed result (False on non-zero ranks: one writer only).

    Returns:
        (features (num, num_features) float32 on the CPU, whether they came from the cache)
    """
    path = Path(path)
    cached = _load(path, num, extractor.num_features)
    if cached is not None:
        return cached, True
    features = torch.cat([extractor.extract(batch).pool for batch in images()])
    if features.shape[0] != num:
        raise ValueError(f"expected {num} real images, got {features.shape[0]}")
    if write:
        _save_atomically(path, {"pool": features, "extractor": extractor.name, "num": num})
    return features, False
