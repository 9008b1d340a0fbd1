"""Small deterministic stand-ins for Inception, a generator and a datamodule: metrics tests in milliseconds."""

from __future__ import annotations

import warnings
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from igan.metrics.inception import InceptionFeatures

TOY_FEATURES = 16
TOY_CLASSES = 10


class ToyBackbone(nn.Module):
    """A fixed random conv + global average pool (+ a linear 'logits' head); counts the images it sees.

    Same contract as the Inception backbones: uint8 (N, 3, H, W) -> (pool, logits or None).
    """

    def __init__(self, with_logits: bool = False, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(3, TOY_FEATURES, 3, padding=1)
        self.head = nn.Linear(TOY_FEATURES, TOY_CLASSES)
        for p in self.parameters():
            p.data = torch.randn(p.shape, generator=generator) * 0.5
        self.with_logits = with_logits
        self.images_seen = 0
        self.calls = 0

    def forward(self, images: Tensor):
        assert images.dtype == torch.uint8 and images.shape[1] == 3
        self.images_seen += images.shape[0]
        self.calls += 1
        pool = torch.relu(self.conv(images.float() / 128 - 1)).mean(dim=(2, 3))
        return pool, (self.head(pool) if self.with_logits else None)


class ChannelMeans(nn.Module):
    """TF-FID interface ((N, 3, 299, 299) -> (N, width)) at no cost: channel means, repeated to ``width``."""

    def __init__(self, width: int = 2048) -> None:
        super().__init__()
        self.width = width

    def forward(self, x: Tensor) -> Tensor:
        means = x.mean(dim=(2, 3))
        return means.repeat(1, (self.width + 2) // 3)[:, : self.width]


def tiny_torchscript_weights(folder: Path, width: int = 2048) -> str:
    """A TorchScript file standing in for the Inception weights file; returns its path."""
    path = Path(folder) / f"channel-means-{width}.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated; the file format is what we test
        torch.jit.script(ChannelMeans(width)).save(str(path))
    return str(path)


def toy_extractor(with_logits: bool = False, chunk_size: int | None = 50) -> InceptionFeatures:
    return InceptionFeatures(
        ToyBackbone(with_logits), name="toy", num_features=TOY_FEATURES,
        num_logits=TOY_CLASSES if with_logits else 0, chunk_size=chunk_size,
    )


def random_images(n: int, seed: int, channels: int = 1, size: int = 8, low: float = -1.0, high: float = 1.0) -> Tensor:
    """(n, channels, size, size) floats in [low, high], exactly representable after uint8 quantisation."""
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (n, channels, size, size), generator=generator).float() / 255
    return (pixels * (high - low) + low).clamp(-1, 1)


def reference_fid(a: np.ndarray, b: np.ndarray) -> float:
    """The Frechet distance of pytorch-fid / the FID paper, in float64 with scipy's sqrtm."""
    from scipy import linalg  # only the reference needs scipy (it comes with igan[fid])

    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def reference_kid(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel k(a, b) = (a.b / d + 1)^3 (Binkowski et al.)."""
    d = x.shape[1]
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    m, n = len(x), len(y)
    return float(
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2 * kxy.mean()
    )


class TinyGAN(L.LightningModule):
    """What the Metrics callback needs of a GAN: ``latent_dim`` and ``sample(z)`` in [-1, 1].

    Its training step draws from the global RNG, like a real GAN's noise, so a run's weights
    show whether anything else consumed that RNG.
    """

    latent_dim = 4

    def __init__(self, size: int = 8) -> None:
        super().__init__()
        self.size = size
        self.net = nn.Linear(self.latent_dim, size * size)
        self.sample_calls = 0

    @torch.no_grad()
    def sample(self, z: Tensor) -> Tensor:
        self.sample_calls += 1
        return torch.tanh(self.net(z.to(self.device))).view(-1, 1, self.size, self.size)

    def training_step(self, batch, batch_idx):
        z = torch.randn(batch[0].shape[0], self.latent_dim, device=self.device)
        return (torch.tanh(self.net(z)) - batch[0].flatten(1)).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class TinyData(L.LightningDataModule):
    """``dataset`` of (image,) tuples in [-1, 1]; optionally the cache hooks the real datamodule will have."""

    def __init__(self, n: int = 32, size: int = 8, cache_dir: str | None = None, key: str | None = None) -> None:
        super().__init__()
        self.dataset = TensorDataset(random_images(n, seed=123, size=size))
        self._cache_dir, self._key = cache_dir, key
        if cache_dir is not None:
            self.fid_cache_dir = lambda: self._cache_dir
        if key is not None:
            self.fid_cache_key = lambda: self._key

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.dataset, batch_size=8, shuffle=True)
