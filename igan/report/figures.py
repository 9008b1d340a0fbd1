"""Figures for :mod:`igan.report.compare`: the sample-grid montage, the metric curves with seed bands, grid geometry.

Kept apart from the table logic so that each piece can be tested with plain images and lists.
The curves use matplotlib's object API (``Figure`` with the Agg canvas) rather than pyplot: no
GUI backend is ever selected, no global figure registry grows, and an importing program's own
pyplot backend is left alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: torchvision make_grid's padding as igan.io.images.grid_array writes it.
GRID_PADDING = 2
#: Image sizes tried, in order, when the config does not say which one a grid holds.
COMMON_IMAGE_SIZES = (32, 64, 28, 16, 48, 96, 128, 256)

WHITE = (255, 255, 255)
TEXT = (20, 20, 20)
FAINT = (150, 150, 150)
GAP = 8  # pixels between montage cells and around labels


# --------------------------------------------------------------------------- grid geometry

@dataclass(frozen=True)
class GridGeometry:
    """Where the images of a make_grid PNG are: ``cols`` x ``rows`` images of ``image_size`` px.

    make_grid puts ``padding`` pixels before every image and one more band at the right and
    bottom, so image (r, c) starts at ``padding + c * (image_size + padding)``.
    """

    image_size: int
    cols: int
    rows: int
    padding: int = GRID_PADDING

    @property
    def step(self) -> int:
        return self.image_size + self.padding

    def image_box(self, index: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of image ``index``, counted row by row as make_grid lays them."""
        row, col = divmod(index, self.cols)
        left, top = self.padding + col * self.step, self.padding + row * self.step
        return left, top, left + self.image_size, top + self.image_size

    def crop_box(self, k: int) -> tuple[int, int, int, int]:
        """The first k x k images (fewer where the grid is smaller) with their surrounding padding."""
        cols, rows = min(k, self.cols), min(k, self.rows)
        return 0, 0, self.padding + cols * self.step, self.padding + rows * self.step

    def sample_mask(self, num: Optional[int] = None) -> np.ndarray:
        """(H, W) bool mask of the pixels of the first ``num`` images: padding and empty slots excluded.

        Empty slots exist when the sample count does not fill the last grid row; make_grid leaves
        them at the padding value, which must not count as (grey) sample pixels.
        """
        height, width = self.padding + self.rows * self.step, self.padding + self.cols * self.step
        mask = np.zeros((height, width), dtype=bool)
        count = self.cols * self.rows if num is None else min(num, self.cols * self.rows)
        for index in range(count):
            left, top, right, bottom = self.image_box(index)
            mask[top:bottom, left:right] = True
        return mask


def grid_geometry(width: int, height: int, image_size: Optional[int] = None,
                  padding: int = GRID_PADDING) -> Optional[GridGeometry]:
    """The geometry of a ``width`` x ``height`` grid, or None when no image size fits it.

    The size from the run's config is tried first; without one (or when it does not fit, e.g. a
    grid written under another config) the common sizes are tried. For a make_grid PNG both
    ``width - padding`` and ``height - padding`` are multiples of ``image_size + padding``.
    """
    candidates = ([image_size] if image_size else []) + [s for s in COMMON_IMAGE_SIZES if s != image_size]
    for size in candidates:
        step = size + padding
        if width > padding and height > padding and (width - padding) % step == 0 and (height - padding) % step == 0:
            return GridGeometry(size, (width - padding) // step, (height - padding) // step, padding)
    return None


def mean_saturation(image: Image.Image, geometry: Optional[GridGeometry] = None, num: Optional[int] = None) -> float:
    """Mean HSV saturation, (max - min) / max of R, G, B per pixel, over the sample pixels only.

    The published claim "IDCGAN draws more saturated colours" is about the samples; the black
    grid padding (saturation 0) would pull every run's mean down by a grid-dependent amount, so
    it is masked out when the geometry is known. A black pixel has saturation 0 (as in HSV).
    """
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64)
    high, low = rgb.max(axis=-1), rgb.min(axis=-1)
    saturation = np.where(high > 0, (high - low) / np.maximum(high, 1e-12), 0.0)
    if geometry is None:
        return float(saturation.mean())
    mask = geometry.sample_mask(num)
    if mask.shape != saturation.shape:  # geometry of another grid: fall back to every pixel
        return float(saturation.mean())
    return float(saturation[mask].mean())


# --------------------------------------------------------------------------- montage

@dataclass
class MontageRow:
    """One run's row: its label and one (caption, image or None for "n/a") per column.

    ``cells`` may be shorter than the montage's column count (per-run epoch lists of different
    lengths); the missing cells stay white.
    """

    label: str
    cells: list[tuple[str, Optional[Image.Image]]] = field(default_factory=list)


@dataclass
class MontageLayout:
    """Pixel boxes of the montage's cells, so callers (and tests) can find a given run and epoch."""

    size: tuple[int, int]
    cell_size: tuple[int, int]
    boxes: dict[tuple[int, int], tuple[int, int, int, int]]


def load_font(size: int) -> ImageFont.ImageFont:
    """PIL's bundled scalable font at ``size`` px (Pillow >= 10.1), else its small bitmap font.

    The bundled font needs no system fonts, so the montage looks the same on every machine.
    """
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: no size argument
        return ImageFont.load_default()


def text_size(font: ImageFont.ImageFont, text: str) -> tuple[int, int]:
    left, top, right, bottom = font.getbbox(text)
    return right - left, bottom - top


def fit(image: Image.Image, box: tuple[int, int]) -> Image.Image:
    """``image`` scaled to fit ``box`` keeping its aspect ratio.

    Shrinking uses Lanczos (a downscaled grid stays smooth); enlarging uses nearest-neighbour so
    a small-resolution run's pixels stay visible as pixels instead of being smeared.
    """
    scale = min(box[0] / image.width, box[1] / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.NEAREST)


def montage_cell_size(rows: Sequence[MontageRow], cell_size: Optional[int]) -> tuple[int, int]:
    """The largest image's size, scaled so its longer side is ``cell_size`` when that is given.

    Native size by default, so nothing is resampled when all runs share one resolution.
    """
    images = [image for row in rows for _, image in row.cells if image is not None]
    width = max((image.width for image in images), default=cell_size or 128)
    height = max((image.height for image in images), default=cell_size or 128)
    if cell_size:
        scale = cell_size / max(width, height)
        width, height = max(1, round(width * scale)), max(1, round(height * scale))
    return width, height


def render_montage(rows: Sequence[MontageRow], out: Path, column_titles: Optional[Sequence[str]] = None,
                   cell_size: Optional[int] = None) -> MontageLayout:
    """Write the rows x columns montage to ``out`` (PNG, RGB, white background).

    With ``column_titles`` every column shares one title line at the top ("epoch N"); without,
    each cell gets its own caption line (per-run epochs, where columns mean different epochs).
    """
    cell_w, cell_h = montage_cell_size(rows, cell_size)
    font = load_font(max(14, min(28, cell_h // 14)))
    line_h = text_size(font, "epoch 0123456789 n/a")[1] + GAP // 2
    label_w = max((text_size(font, row.label)[0] for row in rows), default=0) + 2 * GAP
    columns = max([len(row.cells) for row in rows] + [len(column_titles or [])])
    header_h = line_h + GAP if column_titles else 0
    caption_h = 0 if column_titles else line_h
    row_h = caption_h + cell_h + GAP

    size = (label_w + columns * (cell_w + GAP), header_h + GAP + len(rows) * row_h)
    canvas = Image.new("RGB", size, WHITE)
    draw = ImageDraw.Draw(canvas)
    for col, title in enumerate(column_titles or []):
        x = label_w + col * (cell_w + GAP) + (cell_w - text_size(font, title)[0]) // 2
        draw.text((x, GAP), title, fill=TEXT, font=font)

    boxes = {}
    for r, row in enumerate(rows):
        top = header_h + GAP + r * row_h + caption_h
        draw.text((GAP, top + (cell_h - text_size(font, row.label)[1]) // 2), row.label, fill=TEXT, font=font)
        for c, (caption, image) in enumerate(row.cells):
            left = label_w + c * (cell_w + GAP)
            box = (left, top, left + cell_w, top + cell_h)
            boxes[(r, c)] = box
            if not column_titles:
                draw.text((left + (cell_w - text_size(font, caption)[0]) // 2, top - line_h), caption,
                          fill=TEXT, font=font)
            if image is None:
                draw_not_available(draw, box, font)
            else:
                fitted = fit(image.convert("RGB"), (cell_w, cell_h))
                canvas.paste(fitted, (left + (cell_w - fitted.width) // 2, top + (cell_h - fitted.height) // 2))

    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out, format="PNG")
    return MontageLayout(size=size, cell_size=(cell_w, cell_h), boxes=boxes)


def draw_not_available(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], font: ImageFont.ImageFont) -> None:
    """A white cell with a faint outline and "n/a": visibly missing, never mistaken for a black grid."""
    draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), outline=FAINT, width=1)
    w, h = text_size(font, "n/a")
    draw.text(((box[0] + box[2] - w) // 2, (box[1] + box[3] - h) // 2), "n/a", fill=FAINT, font=font)


# --------------------------------------------------------------------------- curves

@dataclass
class Series:
    """One line: values by epoch and by training minutes, with an optional symmetric error (KID's std)."""

    name: str
    epochs: list[int]
    minutes: list[Optional[float]]
    values: list[float]
    errors: Optional[list[Optional[float]]] = None


@dataclass
class Curve:
    """One model group in a panel: its mean line, the min-max band over seeds and each seed's line.

    With one seed, ``mean`` is that run's line, ``low``/``high`` are None and ``seeds`` is empty;
    ``mean.errors`` (KID's std over subsets) then draws the band, where it means something.
    """

    name: str
    mean: Series
    low: Optional[list[float]] = None
    high: Optional[list[float]] = None
    seeds: list[Series] = field(default_factory=list)


@dataclass
class Panel:
    """One figure row: a metric against epoch (left) and against training time (right)."""

    title: str
    ylabel: str
    curves: list[Curve]


def draw_curves(panels: Sequence[Panel]):
    """The figure (matplotlib ``Figure``): one row of two axes per panel, colours by group order."""
    from matplotlib.figure import (
        Figure,  # Agg canvas by default; no pyplot, no GUI backend
    )
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(12, 4.2 * len(panels)), layout="constrained")
    axes = figure.subplots(len(panels), 2, squeeze=False)
    for row, panel in enumerate(panels):
        for col, (xlabel, use_time) in enumerate((("epoch", False), ("training time (min)", True))):
            ax = axes[row][col]
            for index, curve in enumerate(panel.curves):
                plot_curve(ax, curve, use_time, color=f"C{index % 10}")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(panel.ylabel)
            ax.set_title(f"{panel.title} vs {xlabel.split(' (')[0]}")
            ax.grid(True, alpha=0.3)
            if not use_time:
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no "epoch 2.5" ticks
        axes[row][0].legend(fontsize="small")
    return figure


def render_curves(panels: Sequence[Panel], out: Path) -> Path:
    """Write :func:`draw_curves`' figure to ``out`` (PNG)."""
    figure = draw_curves(panels)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100, facecolor="white")
    return out


def points(series: Series, use_time: bool, *columns: Optional[Sequence]) -> list[tuple]:
    """(x, value, *column values) per point; points without a time are left out of the time axis only."""
    rows = []
    for i, (epoch, minutes, value) in enumerate(zip(series.epochs, series.minutes, series.values)):
        if use_time and minutes is None:
            continue
        rows.append((minutes if use_time else epoch, value, *(None if c is None else c[i] for c in columns)))
    return rows


def plot_curve(ax, curve: Curve, use_time: bool, color: str) -> None:
    """Faint seed lines, the min-max band, and the mean line with markers (one point still shows)."""
    for seed in curve.seeds:
        seed_points = points(seed, use_time)
        if seed_points:
            ax.plot([p[0] for p in seed_points], [p[1] for p in seed_points], color=color, alpha=0.3, linewidth=0.8)
    mean_points = points(curve.mean, use_time, curve.low, curve.high, curve.mean.errors)
    if not mean_points:
        return
    xs, ys = [p[0] for p in mean_points], [p[1] for p in mean_points]
    label = curve.name if not curve.seeds else f"{curve.name} (mean of {len(curve.seeds)} seeds, band min-max)"
    ax.plot(xs, ys, marker="o", markersize=3, color=color, label=label, linewidth=1.8 if curve.seeds else 1.5)
    if curve.low is not None and curve.high is not None:
        ax.fill_between(xs, [p[2] for p in mean_points], [p[3] for p in mean_points], color=color, alpha=0.2,
                        linewidth=0)
    elif curve.mean.errors is not None:
        errors = [0.0 if p[4] is None or math.isnan(p[4]) else p[4] for p in mean_points]
        if any(errors):
            ax.fill_between(xs, [y - e for y, e in zip(ys, errors)], [y + e for y, e in zip(ys, errors)],
                            color=color, alpha=0.2, linewidth=0)
