"""The fixed noise: one definition shared by sample grids, metrics and ``sample.py``."""

from __future__ import annotations

import torch


def fixed_noise(num: int, latent_dim: int, seed: int) -> torch.Tensor:
    """The same (num, latent_dim) batch on every machine and for every model with this latent size.

    Drawn from its own CPU generator, so it never depends on (or disturbs) the global RNG.
    """
    return torch.randn(num, latent_dim, generator=torch.Generator().manual_seed(seed))
