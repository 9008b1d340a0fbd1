"""Translate chosen characters with a translation checkpoint: ``sample.py --chars 永字八法 --style "LXGW WenKai"``.

The generator is rebuilt from the checkpoint's hyperparameters and ``generator.*`` weights (no
LightningModule, no pickled code), and the characters are rendered in the run's source font by
the dataset's own renderer (:func:`igan.data.calligraphy.render_dataset`), so a sampled source
glyph is pixel for pixel a training glyph. The grid has the layout of the run's held-out grid:
the source row, then per style the translated row and the true row (white where the style font
lacks the character or is not installed here). Several checkpoints of runs on the same data
(``--ckpt A B C``) give one translated row each, in order, between the source and the truth:
the blocks side by side on the same characters.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from igan.io.checkpoint_file import load_checkpoint_file
from igan.data.calligraphy import RenderSpec, render_dataset, resolve_font
from igan.errors import IganError
from igan.io.images import grid_array, save_image
from igan.translation.metrics import style_slug
from igan.translation.models import UNetGenerator

TASK = "translation"


@dataclass
class Translator:
    """A translation checkpoint's generator (eval mode) and the data it was trained on."""

    generator: UNetGenerator
    styles: list[str]
    source_font: str
    image_size: int
    margin: float

    @torch.no_grad()
    def translate(self, sources: Tensor, style: int) -> Tensor:
        """(B, 1, S, S) sources in [-1, 1] -> their translations in ``style`` (on the CPU)."""
        device = next(self.generator.parameters()).device
        styles = torch.full((len(sources),), style, dtype=torch.long, device=device)
        return self.generator(sources.to(device), styles).cpu()

    def to(self, device: str | torch.device) -> "Translator":
        self.generator.to(device)
        return self


def checkpoint_task(ckpt: dict) -> str:
    """``"translation"`` or ``"gan"`` (an unconditional generator spec), else ``"unknown"``."""
    if (ckpt.get("igan") or {}).get("task") == TASK:
        return TASK
    return "gan" if "generator" in (ckpt.get("hyper_parameters") or {}) else "unknown"


def load_translator(ckpt_path: str | Path, map_location: str = "cpu") -> Translator:
    """The generator of a translation checkpoint in eval mode; IganError for any other checkpoint."""
    path = Path(ckpt_path)
    ckpt = load_checkpoint_file(path, map_location)
    task = checkpoint_task(ckpt)
    if task == "gan":
        raise IganError(f"{path} is an unconditional (GAN) checkpoint: --chars and --style need a translation "
                        "checkpoint (trained with configs/translate/*.yaml)")
    hp, data = ckpt.get("hyper_parameters") or {}, ckpt.get("datamodule_hyper_parameters") or {}
    if task != TASK or "state_dict" not in ckpt or "styles" not in data:
        raise IganError(f"{path} is not a translation training checkpoint")
    try:
        generator = UNetGenerator(
            int(hp["image_size"]), int(hp["num_styles"]), int(hp["width_g"]), int(hp["style_dim"]), hp["block"],
            tuple(hp["block_resolutions"]), kernel_size=hp["kernel_size"], group_channels=hp["group_channels"],
            reduction_ratio=hp["reduction_ratio"], attention_pool=hp["attention_pool"])
        weights = {k.removeprefix("generator."): v for k, v in ckpt["state_dict"].items() if k.startswith("generator.")}
        generator.load_state_dict(weights)
    except KeyError as err:
        raise IganError(f"{path}: the checkpoint lacks model.{err.args[0]}") from err
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise IganError(f"{path}: generator weights do not match its hyperparameters: {first}") from err
    return Translator(generator.eval(), list(data["styles"]), str(data["source_font"]), int(data["image_size"]),
                      float(data["margin"]))


def style_ids(translator: Translator, style: str) -> list[int]:
    """``all`` -> every style; else the style named (its font name case-insensitively, or its slug)."""
    if style.strip().lower() == "all":
        return list(range(len(translator.styles)))
    for i, name in enumerate(translator.styles):
        if style.strip().lower() == name.lower() or style_slug(style) == style_slug(name):
            return [i]
    known = ", ".join(repr(s) for s in translator.styles)
    raise IganError(f"--style {style!r} is not a style of this checkpoint; known styles: {known} (or all)")


def parse_chars(text: str) -> str:
    """The characters of ``--chars`` in order, whitespace dropped."""
    chars = "".join(c for c in text if not c.isspace())
    if not chars:
        raise IganError("--chars holds no characters")
    return chars


def render(font: str, chars: str, image_size: int, margin: float) -> dict[str, Tensor]:
    """The (1, S, S) glyph in [-1, 1] of each character ``font`` has, rendered as the dataset renders it."""
    spec = RenderSpec((resolve_font(font),), "".join(dict.fromkeys(chars)), image_size, margin)
    try:
        images, labels = render_dataset(spec)
    except IganError:  # the font covers none of the characters
        return {}
    return {c: torch.from_numpy(img).float().div(127.5).sub(1.0).unsqueeze(0) for img, (c, _) in zip(images, labels)}


def same_data(translators: list[Translator]) -> None:
    """IganError unless the checkpoints translate the same source into the same styles at one size."""
    first = translators[0]
    for other in translators[1:]:
        for field in ("source_font", "styles", "image_size", "margin"):
            if getattr(other, field) != getattr(first, field):
                raise IganError(f"the checkpoints differ in data.{field} ({getattr(first, field)!r} against "
                                f"{getattr(other, field)!r}); only runs on the same data compare in one grid")


def translation_grid(translators: Translator | list[Translator], chars: str, styles: list[int]) -> Tensor:
    """(rows * len(chars), 1, S, S) in [-1, 1]: the sources, then per style each checkpoint's translations
    and the truths (one checkpoint: the layout of its run's held-out grid).

    IganError naming the characters the source font lacks, or when the checkpoints' data differ; a
    style font missing here leaves its truth row white, with one warning.
    """
    translators = translators if isinstance(translators, list) else [translators]
    same_data(translators)
    first = translators[0]
    size, margin = first.image_size, first.margin
    sources = render(first.source_font, chars, size, margin)
    missing = "".join(dict.fromkeys(c for c in chars if c not in sources))
    if missing:
        raise IganError(f"the source font {first.source_font!r} lacks {missing} "
                        f"({len(missing)} of the characters asked for)")
    source = torch.stack([sources[c] for c in chars])
    rows = [source]
    for style in styles:
        name = first.styles[style]
        try:
            truths = render(name, chars, size, margin)
        except IganError:
            warnings.warn(f"the style font {name!r} is not installed here: its truth row is left white")
            truths = {}
        truth = torch.stack([truths.get(c, torch.ones(1, size, size)) for c in chars])
        rows += [t.translate(source, style).float() for t in translators] + [truth]
    return torch.cat(rows)


def write_translation_grid(translators: Translator | list[Translator], chars: str, styles: list[int],
                           out: str | Path) -> Path:
    """:func:`translation_grid` as one image file, one column per character; the format from the suffix."""
    images = translation_grid(translators, chars, styles)
    return save_image(grid_array(images, nrow=len(chars)), out)
