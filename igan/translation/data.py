"""Paired glyphs for printed-to-calligraphy translation: (source glyph, target glyph, style id).

The source is one printed font (Ming/Song), every target font is a style. All glyphs are
rendered once through the glyph dataset's cache (:func:`igan.data.calligraphy.load_or_build`,
atomic and hash-checked) with the source font first; the pairing is read from the labels that
cache records, checked against the images' sha256.

Held-out characters are chosen by a stable hash of the character alone (:func:`is_held_out`), so
the split is the same on every run and machine, and a held-out character is never trained on in
any style.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from igan.data.calligraphy import FontNotInstalled, cache_folder, gb2312_level1, load_or_build
from igan.data.sampler import EpochShuffleSampler
from igan.errors import IganError

#: The printed source font (Debian fonts-arphic-uming).
DEFAULT_SOURCE = "AR PL UMing CN"
#: The Kai fonts used as styles: those of Debian's that have every GB2312 level-1 character
#: (fonts-arphic-ukai, fonts-lxgw-wenkai, fonts-arphic-gkai00mp, fonts-cns11643-kai). cwTeXKai and
#: AR PL KaitiM Big5 are traditional fonts that lack many simplified characters.
DEFAULT_STYLES = ("AR PL UKai CN", "LXGW WenKai", "AR PL KaitiM GB", "TW-Kai")
FONT_PACKAGES = "fonts-arphic-uming fonts-arphic-ukai fonts-lxgw-wenkai fonts-arphic-gkai00mp fonts-cns11643-kai"


def is_held_out(char: str, fraction: float) -> bool:
    """Whether ``char`` belongs to the held-out split: the first 8 bytes of its UTF-8 sha256 as a
    fraction of 2^64, below ``fraction``. Depends on the character alone."""
    value = int.from_bytes(hashlib.sha256(char.encode("utf-8")).digest()[:8], "big")
    return value < fraction * 2**64


@dataclass
class Pairs:
    """Every rendered pair: ``targets[i]`` is ``chars[char_index[i]]`` in style ``style_index[i]``,
    its source glyph ``sources[char_index[i]]``. Images are uint8, black ink on white."""

    chars: str  # characters the source font has, in request order
    styles: list[str]
    sources: Tensor  # (len(chars), H, W)
    targets: Tensor  # (N, H, W)
    char_index: Tensor  # (N,) long
    style_index: Tensor  # (N,) long

    def split(self, fraction: float) -> tuple[Tensor, Tensor]:
        """Indices of the training pairs and of the held-out pairs."""
        held = torch.tensor([is_held_out(c, fraction) for c in self.chars], dtype=torch.bool)
        mask = held[self.char_index] if len(self.char_index) else torch.zeros(0, dtype=torch.bool)
        return torch.nonzero(~mask).flatten(), torch.nonzero(mask).flatten()


def _labels(folder: Path, images: np.ndarray) -> list[tuple[str, int]]:
    """The (char, font id) of each cached image, from a manifest whose sha256 covers these very images."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError) as err:
        raise IganError(f"cannot read the labels of the glyph cache {folder} ({err})") from err
    buffer = io.BytesIO()
    np.save(buffer, images)
    labels = manifest.get("labels") if isinstance(manifest, dict) else None
    if (hashlib.sha256(buffer.getvalue()).hexdigest() != manifest.get("sha256")
            or not isinstance(labels, list) or len(labels) != len(images)):
        raise IganError(f"the glyph cache {folder} changed while it was read; run again")
    return [(str(c), int(f)) for c, f in labels]


def load_pairs(root: str | Path, source: str, styles: list[str], chars: str, image_size: int, margin: float) -> Pairs:
    """Render (once) or load the source and style glyphs of ``chars`` and pair them.

    Characters the source font lacks are dropped in every style; a character a style lacks is
    dropped in that style only. Either is reported in one warning that counts them.
    """
    fonts = [source, *styles]
    try:
        images = load_or_build(root, fonts, chars, image_size, margin)
    except FontNotInstalled as err:  # the Kai dataset's message would name the wrong setting and packages
        role = "the printed source font (data.source_font)" if err.spec == source else "a style font (data.styles)"
        raise IganError(f"{role} {err.spec!r} is not installed. Install the translation fonts with\n"
                        f"  sudo apt-get install -y {FONT_PACKAGES}\n"
                        "or name a TTF/OTF/TTC file path or another installed family.") from None
    labels = _labels(cache_folder(root, fonts, chars, image_size, margin), images)
    source_at = {c: i for i, (c, f) in enumerate(labels) if f == 0}
    kept = "".join(c for c in chars if c in source_at)
    position = {c: i for i, c in enumerate(kept)}
    rows = [(i, position[c], f - 1) for i, (c, f) in enumerate(labels) if f > 0 and c in position]
    if not rows:
        raise IganError(f"no character of data.chars exists in the source font {source!r} and any style")
    counts = torch.bincount(torch.tensor([s for _, _, s in rows]), minlength=len(styles)).tolist()
    empty = [styles[s] for s, n in enumerate(counts) if n == 0]
    if empty:
        raise IganError(f"style font(s) {', '.join(map(repr, empty))} have none of the characters asked for")
    missing = [f"{len(chars) - len(kept)} in the source font {source!r}"] if len(kept) < len(chars) else []
    missing += [f"{len(kept) - n} in {styles[s]!r}" for s, n in enumerate(counts) if n < len(kept)]
    if missing:
        warnings.warn(f"skipped characters the fonts lack (of {len(chars)}): {'; '.join(missing)}", stacklevel=2)
    index = torch.tensor([r[0] for r in rows])
    all_images = torch.from_numpy(images)
    return Pairs(
        chars=kept, styles=list(styles),
        sources=all_images[torch.tensor([source_at[c] for c in kept])],
        targets=all_images[index],
        char_index=torch.tensor([r[1] for r in rows]), style_index=torch.tensor([r[2] for r in rows]),
    )


def to_unit_range(images: Tensor) -> Tensor:
    """uint8 (B, H, W) -> float (B, 1, H, W) in [-1, 1]."""
    return images.float().div(127.5).sub(1.0).unsqueeze(1)


class PairsDataset(Dataset):
    """The pairs at ``indices``, served as ``(source, target, style)``: two (1, H, W) images in [-1, 1] and a long."""

    def __init__(self, pairs: Pairs, indices: Tensor) -> None:
        self.pairs, self.indices = pairs, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int):
        source, target, style = self.__getitems__([index])
        return source[0], target[0], style[0]

    def __getitems__(self, indices: list[int]):
        """A whole batch in one indexing; the DataLoader calls this and passes the tuple through."""
        rows = self.indices[torch.as_tensor(indices, dtype=torch.long)]
        p = self.pairs
        return to_unit_range(p.sources[p.char_index[rows]]), to_unit_range(p.targets[rows]), p.style_index[rows]


def _as_batch(batch):
    """``__getitems__`` returns the batch ready; the default collate would stack it again."""
    return batch


class PairsDataModule(L.LightningDataModule):
    """Paired glyphs of the printed source font and every style font, split by character.

    Args:
        name: ``calligraphy_pairs`` (recorded in checkpoints and run names).
        root: data folder; the glyphs are cached under ``<root>/calligraphy``.
        image_size: side of the square glyphs (64 default, 32 possible).
        batch_size: pairs per training batch.
        num_workers: DataLoader worker processes.
        source_font: the printed font translated from (family name or font file path).
        styles: one font per style (family names or paths); the order gives the style ids.
        chars: characters to render; None means GB2312 level 1 (3,755 characters).
        margin: blank border around each glyph's ink, as a fraction of the side.
        held_out_fraction: share of characters held out of training (by :func:`is_held_out`).
    """

    def __init__(
        self,
        name: Literal["calligraphy_pairs"] = "calligraphy_pairs",
        root: str = "data",
        image_size: int = 64,
        batch_size: int = 16,
        num_workers: int = 0,
        source_font: str = DEFAULT_SOURCE,
        styles: list[str] = list(DEFAULT_STYLES),
        chars: str | None = None,
        margin: float = 0.08,
        held_out_fraction: float = 0.1,
    ) -> None:
        super().__init__()
        if name != "calligraphy_pairs":
            raise IganError(f"data.name must be calligraphy_pairs for translation, got {name!r}")
        if image_size < 8 or image_size & (image_size - 1):
            raise IganError(f"data.image_size must be a power of two >= 8 (the U-Net halves it to 1), got {image_size}")
        if not styles:
            raise IganError("data.styles is empty: name at least one target font")
        if len(set(styles)) != len(styles):
            raise IganError(f"data.styles names a font twice: {styles}")
        if not 0 < held_out_fraction < 1:
            raise IganError(f"data.held_out_fraction must be in (0, 1), got {held_out_fraction}")
        if not 0 <= margin < 0.5:
            raise IganError(f"data.margin must be in [0, 0.5), got {margin}")
        if batch_size < 1 or num_workers < 0:
            raise IganError(f"data.batch_size must be >= 1 and data.num_workers >= 0, got {batch_size}, {num_workers}")
        self.save_hyperparameters()
        self.pairs: Pairs | None = None
        self.dataset: PairsDataset | None = None  # training pairs
        self.held_out: PairsDataset | None = None
        self.train_sampler = EpochShuffleSampler()  # exact resume: the order depends on (seed, epoch) alone

    @property
    def num_styles(self) -> int:
        return len(self.hparams.styles)

    @property
    def channels(self) -> int:
        return 1

    def style_names(self) -> list[str]:
        return list(self.hparams.styles)

    def prepare_data(self) -> None:
        self._load()

    def setup(self, stage: str | None = None) -> None:
        if self.pairs is None:
            self.pairs = self._load()
            train, held = self.pairs.split(self.hparams.held_out_fraction)
            if len(held) == 0:
                raise IganError(f"no held-out character among the {len(self.pairs.chars)} characters: "
                                "give more characters or a larger data.held_out_fraction")
            self.dataset, self.held_out = PairsDataset(self.pairs, train), PairsDataset(self.pairs, held)

    def _load(self) -> Pairs:
        hp = self.hparams
        chars = "".join(dict.fromkeys(c for c in (hp.chars or gb2312_level1()) if not c.isspace()))
        if not chars:
            raise IganError("data.chars holds no characters")
        return load_pairs(hp.root, hp.source_font, list(hp.styles), chars, hp.image_size, hp.margin)

    def fid_cache_dir(self) -> str:
        return str(Path(self.hparams.root) / "fid_stats")

    def train_dataloader(self) -> DataLoader:
        self.setup("fit")
        if len(self.dataset) < self.hparams.batch_size:
            raise IganError(f"{len(self.dataset)} training pairs, fewer than data.batch_size={self.hparams.batch_size}")
        self.train_sampler.num_items = len(self.dataset)
        return DataLoader(
            self.dataset, batch_size=self.hparams.batch_size, sampler=self.train_sampler, drop_last=True,
            num_workers=self.hparams.num_workers, persistent_workers=self.hparams.num_workers > 0,
            pin_memory=torch.cuda.is_available(), collate_fn=_as_batch,
        )
