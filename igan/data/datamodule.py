"""One LightningDataModule for every dataset igan trains on; images come out in [-1, 1]."""

from __future__ import annotations

from typing import Literal, Optional

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from igan.data.calligraphy import DEFAULT_FONTS, RenderSpec, gb2312_level1, load_or_build, resolve_font
from igan.data.cifar10 import load_cifar10
from igan.data.folder import load_folder
from igan.errors import IganError


class GlyphDataset(Dataset):
    """In-memory uint8 glyphs (N, H, W) served as (C, H, W) float tensors in [-1, 1]."""

    def __init__(self, images: torch.Tensor, channels: int) -> None:
        self.images = images
        self.channels = channels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        x = self.images[index].float().div(127.5).sub(1.0).unsqueeze(0)
        return x.expand(self.channels, -1, -1).contiguous() if self.channels > 1 else x


def _to_rgb(image):
    return image.convert("RGB")


def image_transform(image_size: int, channels: int) -> transforms.Compose:
    """Resize + centre-crop to a square, match channels, normalise to [-1, 1]."""
    steps = [transforms.Resize(image_size), transforms.CenterCrop(image_size)]
    steps.append(transforms.Grayscale(1) if channels == 1 else transforms.Lambda(_to_rgb))
    steps += [transforms.ToTensor(), transforms.Normalize([0.5] * channels, [0.5] * channels)]
    return transforms.Compose(steps)


def _drop_labels(batch):
    """Collate to images only: the GANs here are unconditional."""
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
        if channels not in (1, 3):
            raise IganError(f"data.channels must be 1 or 3, got {channels}")
        if image_size < 8:
            raise IganError(f"data.image_size must be at least 8, got {image_size}")
        if not 0 <= margin < 0.5:
            raise IganError(f"data.margin must be in [0, 0.5), got {margin}")
        self.save_hyperparameters()
        self.dataset: Optional[Dataset] = None

    def prepare_data(self) -> None:
        """Download or render once, in one process, before any worker reads."""
        self._build()

    def setup(self, stage: Optional[str] = None) -> None:
        if self.dataset is None:
            self.dataset = self._build()

    def _build(self) -> Dataset:
        hp = self.hparams
        if hp.name == "cifar10":
            return load_cifar10(hp.root, image_transform(hp.image_size, hp.channels), download=hp.download)
        if hp.name == "folder":
            return load_folder(hp.root, image_transform(hp.image_size, hp.channels))
        chars = hp.chars if hp.chars else gb2312_level1()
        chars = "".join(dict.fromkeys(c for c in chars if not c.isspace()))  # unique, in order
        if not chars:
            raise IganError("data.chars holds no characters")
        spec = RenderSpec(tuple(resolve_font(f) for f in hp.fonts), chars, hp.image_size, hp.margin)
        return GlyphDataset(torch.from_numpy(load_or_build(hp.root, spec)), hp.channels)

    def train_dataloader(self) -> DataLoader:
        if self.dataset is None:
            self.setup("fit")
        if len(self.dataset) < self.hparams.batch_size:
            raise IganError(
                f"the {self.hparams.name} dataset has {len(self.dataset)} images, fewer than "
                f"data.batch_size={self.hparams.batch_size}"
            )
        return DataLoader(
            self.dataset,
            batch_size=self.hparams.batch_size,
            shuffle=True,
            drop_last=True,  # equal batches keep BatchNorm statistics and loss scales comparable
            num_workers=self.hparams.num_workers,
            persistent_workers=self.hparams.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
            collate_fn=_drop_labels,
        )
