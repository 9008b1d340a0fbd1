"""One LightningDataModule for every dataset igan trains on; images come out in [-1, 1]."""

from __future__ import annotations

import hashlib
from functools import partial
from pathlib import Path
from typing import Literal, Optional

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from igan.data.calligraphy import DEFAULT_FONTS, gb2312_level1, load_or_build
from igan.data.cifar10 import load_cifar10
from igan.data.folder import load_folder, to_channels
from igan.data.sampler import EpochShuffleSampler
from igan.errors import IganError


class GlyphDataset(Dataset):
    """In-memory uint8 images, (N, H, W) glyphs or (N, C, H, W), served as (C, H, W) float tensors in [-1, 1].

    Single-channel images are repeated to ``channels``; x / 127.5 - 1 equals ToTensor + Normalize(0.5, 0.5).
    """

    def __init__(self, images: torch.Tensor, channels: int) -> None:
        self.images = images
        self.channels = channels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: list[int]) -> torch.Tensor:
        """A whole batch in one indexing and one conversion; the DataLoader calls this when it exists.

        Image by image, indexing and converting a batch is a visible share of a small model's
        iteration on a GPU. The values are the same either way.
        """
        x = self.images[torch.as_tensor(indices, dtype=torch.long)].float().div_(127.5).sub_(1.0)
        x = x.unsqueeze(1) if x.dim() == 3 else x
        return x.expand(-1, self.channels, -1, -1).contiguous() if x.shape[1] < self.channels else x


def image_transform(image_size: int, channels: int) -> transforms.Compose:
    """Match channels (transparency onto white, 16-bit scaled), resize + centre-crop to a square, normalise to [-1, 1].

    Channels come first so that the resize never sees alpha, palettes or 16-bit values.
    """
    return transforms.Compose([
        transforms.Lambda(partial(to_channels, channels=channels)),  # a partial pickles into DataLoader workers
        transforms.Resize(image_size),
        transforms.CenterCrop(image_size),
        transforms.ToTensor(),
        transforms.Normalize([0.5] * channels, [0.5] * channels),
    ])


def _drop_labels(batch):
    """Collate to images only: the GANs here are unconditional. A tensor is a batch already
    (``GlyphDataset.__getitems__``)."""
    if isinstance(batch, torch.Tensor):
        return batch
    images = [item[0] if isinstance(item, (tuple, list)) else item for item in batch]
    return torch.stack(images)


class GANDataModule(L.LightningDataModule):
    """Serves training images for one of the datasets below.

    Args:
        name: ``calligraphy`` (Kai glyphs rendered from installed fonts, the embedded default),
            ``cifar10`` (torchvision, downloaded into ``root``) or ``folder`` (an ImageFolder-style
            directory at ``root``, one sub-folder per style or writer).
        root: dataset storage; CIFAR-10 and the rendered glyphs live under it.
        image_size: side of the square images (32 or 64 for the shipped models).
        channels: 1 (grayscale) or 3 (RGB); sources are converted as needed.
        batch_size: images per training batch.
        num_workers: DataLoader worker processes (0 loads in the training process).
        download: fetch CIFAR-10 when it is not under ``root``.
        fonts: calligraphy fonts, as installed family names or TTF/OTF/TTC paths (``path#index``
            picks a face of a collection).
        chars: calligraphy characters to render; None means GB2312 level 1 (3,755 characters).
        margin: blank border around each glyph's ink, as a fraction of the image side.
    """

    def __init__(
        self,
        name: Literal["calligraphy", "cifar10", "folder"] = "calligraphy",
        root: str = "data",
        image_size: int = 64,
        channels: int = 1,
        batch_size: int = 64,
        num_workers: int = 0,
        download: bool = True,
        fonts: list[str] = list(DEFAULT_FONTS),
        chars: Optional[str] = None,
        margin: float = 0.08,
    ) -> None:
        super().__init__()
        if name not in ("calligraphy", "cifar10", "folder"):
            raise IganError(f"data.name must be calligraphy, cifar10 or folder, got {name!r}")
        if channels not in (1, 3):
            raise IganError(f"data.channels must be 1 or 3, got {channels}")
        if image_size < 8:
            raise IganError(f"data.image_size must be at least 8, got {image_size}")
        if not 0 <= margin < 0.5:
            raise IganError(f"data.margin must be in [0, 0.5), got {margin}")
        if batch_size < 1:
            raise IganError(f"data.batch_size must be >= 1, got {batch_size}")
        if num_workers < 0:
            raise IganError(f"data.num_workers must be >= 0, got {num_workers}")
        if name == "calligraphy" and not fonts:
            raise IganError("data.fonts is empty: name at least one Kai font (installed family name or font file path)")
        self.save_hyperparameters()
        self.dataset: Optional[Dataset] = None
        # Epoch e's batch order depends on (seed, e) alone, so a resumed run sees the batches an
        # uninterrupted one would (igan.training.resume.ExactResume sets the seed and the resume point).
        self.train_sampler = EpochShuffleSampler()

    def prepare_data(self) -> None:
        """Download or render once, in one process, before any worker reads.

        A folder needs neither, and building it is its one full decode of every image, so that
        happens once, in :meth:`setup`.
        """
        if self.hparams.name != "folder":
            self._build()

    def setup(self, stage: Optional[str] = None) -> None:
        if self.dataset is None:
            self.dataset = self._build()

    def _build(self) -> Dataset:
        hp = self.hparams
        if hp.name == "cifar10":
            return load_cifar10(hp.root, image_transform(hp.image_size, hp.channels), download=hp.download)
        if hp.name == "folder":
            return GlyphDataset(torch.from_numpy(load_folder(hp.root, hp.image_size, hp.channels)), hp.channels)
        chars = hp.chars if hp.chars else gb2312_level1()
        chars = "".join(dict.fromkeys(c for c in chars if not c.isspace()))  # unique, in order
        if not chars:
            raise IganError("data.chars holds no characters")
        # The cache is looked up by the font names as given: fonts are resolved only if it must render.
        images = load_or_build(hp.root, list(hp.fonts), chars, hp.image_size, hp.margin)
        return GlyphDataset(torch.from_numpy(images), hp.channels)

    def fid_cache_key(self) -> str:
        """Names the real images FID/KID compare against: dataset, size, channels and content.

        In-memory datasets (calligraphy, folder) are keyed by a hash of their pixels, so changed
        fonts, characters or files never reuse stale real-image statistics.
        """
        hp = self.hparams
        if self.dataset is None:
            self.setup("fit")
        if isinstance(self.dataset, GlyphDataset):
            digest = hashlib.sha256(self.dataset.images.numpy().tobytes()).hexdigest()[:12]
            return f"{hp.name}-{hp.image_size}px-{hp.channels}ch-{len(self.dataset)}-{digest}"
        return f"{hp.name}-{hp.image_size}px-{hp.channels}ch-{len(self.dataset)}"

    def fid_cache_dir(self) -> str:
        """Real-image Inception features live beside the data: ``<data.root>/fid_stats``."""
        return str(Path(self.hparams.root) / "fid_stats")

    def train_dataloader(self) -> DataLoader:
        if self.dataset is None:
            self.setup("fit")
        if len(self.dataset) < self.hparams.batch_size:
            raise IganError(
                f"the {self.hparams.name} dataset has {len(self.dataset)} images, fewer than "
                f"data.batch_size={self.hparams.batch_size}"
            )
        self.train_sampler.num_items = len(self.dataset)
        return DataLoader(
            self.dataset,
            batch_size=self.hparams.batch_size,
            sampler=self.train_sampler,
            drop_last=True,  # equal batches keep BatchNorm statistics and loss scales comparable
            num_workers=self.hparams.num_workers,
            persistent_workers=self.hparams.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
            collate_fn=_drop_labels,
        )
