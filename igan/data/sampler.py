"""The training sampler whose batch order is a function of (seed, epoch) alone: exact resume relies on it."""

from __future__ import annotations

from typing import Iterator, Optional

import torch
from torch.utils.data import Sampler

from igan.noise import derived_seed


class EpochShuffleSampler(Sampler[int]):
    """A random order of ``range(num_items)`` drawn from ``(seed, epoch)`` alone.

    Lightning calls :meth:`set_epoch` before every epoch; without it (a plain PyTorch loop) each
    pass over the loader takes the next epoch's order. :meth:`start_at` makes the next pass over
    ``epoch`` skip its first ``skip`` items (the batches a run resumed mid-epoch already trained on).
    The length stays ``num_items``: the loop's count of batches per epoch never changes.
    """

    def __init__(self, num_items: int = 0, seed: int = 0) -> None:
        self.num_items = num_items
        self.seed = seed
        self.epoch = 0
        self._epoch_set = False
        self._skip: Optional[tuple[int, int]] = None  # (epoch, items) for the next pass

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self._epoch_set = True

    def start_at(self, epoch: int, skip: int) -> None:
        self.set_epoch(epoch)
        self._skip = (int(epoch), int(skip)) if skip > 0 else None

    def order(self, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(derived_seed(self.seed, "order", epoch))
        return torch.randperm(self.num_items, generator=generator)

    def __iter__(self) -> Iterator[int]:
        epoch = self.epoch
        if not self._epoch_set:  # nobody sets the epoch: the next pass takes the next order
            self.epoch += 1
        self._epoch_set = False
        skip = 0
        if self._skip is not None:
            if self._skip[0] == epoch:
                skip = self._skip[1]
            self._skip = None
        return iter(self.order(epoch)[skip:].tolist())

    def __len__(self) -> int:
        return self.num_items
