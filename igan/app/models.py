"""The checkpoints a page serves, loaded once at start: GAN generators and translators, by name.

Each checkpoint is read with ``weights_only=True`` (no pickled code runs) and sorted by its task,
so each tab lists only the checkpoints it can use, and a name of the wrong kind sent through the
API is a message naming the tab that takes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from igan.errors import IganError
from igan.io.checkpoint_file import load_checkpoint_file
from igan.sampling import checkpoint_name, load_generator
from igan.training.kernel_maps import involution_layers
from igan.translation.sampling import TASK, Translator, checkpoint_task, load_translator


@dataclass
class Models:
    """Loaded checkpoints by name: ``gans`` (eval-mode generators, EMA weights when kept) and ``translators``."""

    gans: dict[str, nn.Module] = field(default_factory=dict)
    translators: dict[str, Translator] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def load(cls, paths: list[str | Path], device: str = "cpu") -> "Models":
        """Every checkpoint, or IganError naming the first that is missing or not igan's."""
        models = cls()
        for path in map(Path, paths):
            if not path.is_file():
                raise IganError(f"--ckpt {path}: no such file")
            name = checkpoint_name(path)
            if name in models.paths:  # two runs' files of one name: the path tells them apart
                name = str(path)
            task = checkpoint_task(load_checkpoint_file(path, "cpu"))
            if task == TASK:
                models.translators[name] = load_translator(path).to(device)
            elif task == "gan":
                models.gans[name] = load_generator(path).to(device)
            else:
                raise IganError(f"--ckpt {path} is not an igan training checkpoint (GAN or translation)")
            models.paths[name] = path
        return models

    @property
    def involution_gans(self) -> list[str]:
        """The GAN checkpoints whose generator has involution layers (the Kernels tab's)."""
        return [name for name, g in self.gans.items() if involution_layers(g)]

    def gan(self, name: str) -> nn.Module:
        if name in self.gans:
            return self.gans[name]
        if name in self.translators:
            raise IganError(f"{name} is a translation checkpoint: the Translate tab takes it")
        raise IganError(f"no checkpoint named {name!r}; the GAN checkpoints are {self._list(self.gans)}")

    def translator(self, name: str) -> Translator:
        if name in self.translators:
            return self.translators[name]
        if name in self.gans:
            raise IganError(f"{name} is a GAN checkpoint: the Generate, Interpolate and Kernels tabs take it, "
                            "Translate takes translation checkpoints")
        raise IganError(f"no checkpoint named {name!r}; the translation checkpoints are "
                        f"{self._list(self.translators)}")

    @staticmethod
    def _list(named: dict) -> str:
        return ", ".join(map(repr, named)) or "none (none was given with --ckpt)"
