"""Fake training run directories for the report tests: metrics.csv rows and real make_grid PNGs, no training."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from PIL import Image
from torchvision.utils import make_grid

HEADER = ("epoch,global_step,g_updates,d_updates,train_seconds,d_loss,g_loss,d_real,d_fake,"
          "fid,kid,kid_std,is,is_std,diversity,eval_seconds,grid")


@functools.lru_cache(maxsize=None)
def grid_array(color: tuple[int, int, int] | int, channels: int, size: int = 32, num: int = 64) -> np.ndarray:
    """A make_grid array (padding 2, black) of ``num`` constant images; cached, fixtures reuse levels."""
    rgb = (color,) * 3 if isinstance(color, int) else color
    images = torch.tensor(rgb, dtype=torch.float32).div(255).view(1, 3, 1, 1).expand(num, 3, size, size)
    grid = make_grid(images[:, :channels], nrow=8, padding=2).mul(255).round().to(torch.uint8)
    return grid[0].numpy() if channels == 1 else grid.permute(1, 2, 0).numpy()


def write_grid(path: Path, color: tuple[int, int, int] | int, channels: int) -> Path:
    """The grid PNG as igan's SampleGrid writes it: mode "L" for one channel, "RGB" for three."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid_array(color, channels)).save(path)
    return path


def write_run(root: Path, name: str, fids: list, seconds_per_epoch: float, colors: Optional[list] = None,
              channels: int = 1, kids: list | None = None, num_samples: int | None = 1000,
              extra: Optional[dict[str, list]] = None, generator: Optional[str] = None,
              seed: int = 0) -> Path:
    """runs/<name>/{metrics.csv,config.yaml} with grids in samples/<name>/, paths relative like training's.

    ``extra``: more columns (precision, recall, ..., or unknown ones), one value per epoch (None = empty).
    """
    run_dir = root / "runs" / name
    run_dir.mkdir(parents=True)
    extra = extra or {}
    lines = [HEADER + "".join(f",{column}" for column in extra)]
    for epoch, fid in enumerate(fids):
        write_grid(root / "samples" / name / f"epoch_{epoch:03d}.png", colors[epoch] if colors else 100, channels)
        kid, kid_std = (kids[epoch], 0.001) if kids and kids[epoch] is not None else ("", "")
        losses = ",,," if epoch == 0 else "0.5,1.2,0.7,0.3"
        cells = "".join(f",{'' if values[epoch] is None else values[epoch]}" for values in extra.values())
        lines.append(f"{epoch},{epoch * 100},{epoch * 100},{epoch * 100},{epoch * seconds_per_epoch},{losses},"
                     f"{'' if fid is None else fid},{kid},{kid_std},,,0.{epoch + 1},1.5,"
                     f"../../samples/{name}/epoch_{epoch:03d}.png{cells}")
    (run_dir / "metrics.csv").write_text("\n".join(lines) + "\n")
    metrics = f"metrics:\n  num_samples: {num_samples}\n" if num_samples else ""
    generator = generator or name.upper()
    (run_dir / "config.yaml").write_text(
        f"model:\n  generator:\n    class_path: igan.models.{generator}Generator\n"
        f"data:\n  name: fake\n  image_size: 32\n  channels: {channels}\nsamples:\n  num: 64\n{metrics}"
        f"run_name: null\nseed_everything: {seed}\n")
    return run_dir
