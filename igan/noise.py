"""Reproducible randomness: the fixed noise of grids, metrics and ``igan sample``, and the seeds
derived from a run's seed, so that each random stream depends on its place in the run alone."""

from __future__ import annotations

import hashlib

import torch

SEED_MASK = (1 << 63) - 1


def fixed_noise(num: int, latent_dim: int, seed: int) -> torch.Tensor:
    """The same (num, latent_dim) batch on every machine and for every model with this latent size.

    Drawn from its own CPU generator, so it never depends on (or disturbs) the global RNG.
    """
    return torch.randn(num, latent_dim, generator=torch.Generator().manual_seed(seed))


def derived_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed for ``parts`` (e.g. ``"order", epoch``) of a run seeded with ``seed``, mixed by a hash."""
    text = "/".join(["igan", str(int(seed)), *map(str, parts)])
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") & SEED_MASK
