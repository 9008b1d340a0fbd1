"""Reproducible randomness: the fixed noise of grids, metrics and ``igan sample``, and the seeds
derived from a run's seed, so that each random stream depends on its place in the run alone;
the truncated noise and the paths between two seeds' vectors that ``igan sample`` and the page draw."""

from __future__ import annotations

import hashlib
import math

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


def truncate_rows(z: torch.Tensor, truncation: float, seed: int, start: int = 0) -> torch.Tensor:
    """``z`` with every value outside [-T, T] resampled from the standard normal until inside (in place).

    The truncation trick of BigGAN: resampling, not clipping, so each value follows the standard
    normal conditioned on ``|z_i| <= T`` and none piles up at ±T. Row ``i`` redraws from its own
    generator, seeded by ``(seed, start + i)``, so a row's vector depends on its seed and index
    alone, never on how many rows or batches are drawn around it.
    """
    if not truncation > 0:
        raise ValueError(f"truncation must be > 0, got {truncation}")
    accept = math.erf(truncation / math.sqrt(2))  # P(|z_i| <= T): sizes each redraw
    outside = z.abs() > truncation
    for i in outside.any(dim=1).nonzero().flatten().tolist():
        generator = torch.Generator().manual_seed(derived_seed(seed, "truncation", start + i))
        row, bad = z[i], outside[i]
        while bad.any():
            need = int(bad.sum())
            draw = torch.randn(max(16, math.ceil(1.25 * need / accept)), generator=generator, dtype=z.dtype)
            kept = draw[draw.abs() <= truncation][:need]
            slots = bad.nonzero().flatten()[:len(kept)]
            row[slots] = kept
            bad[slots] = False
    return z


def seed_vector(latent_dim: int, seed: int, truncation: float | None = None) -> torch.Tensor:
    """The z of the first image ``igan sample --seed SEED`` draws (with ``--truncation T`` when given).

    Row 0 of a draw of 16 rows: torch fills normals 16 values at a time, so this row is the same
    in every draw of 16 or more values beyond it (every grid of ``--num 2`` up, at latent sizes >= 16).
    """
    z = fixed_noise(16, latent_dim, seed)
    if truncation is not None:
        z = truncate_rows(z[:1].clone(), truncation, seed)
    return z[0]


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``(1 - t) a + t b`` for each ``t``: (len(t), D)."""
    t = t.to(a.dtype)[:, None]
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation for each ``t``: (len(t), D).

    The formula GANs use (White, "Sampling Generative Networks", 2016): with Ω the angle between
    ``a`` and ``b``, ``sin((1-t)Ω)/sin Ω · a + sin(tΩ)/sin Ω · b``. Unlike :func:`lerp` it keeps the
    norm of Gaussian noise (about sqrt(D)) along the path instead of shrinking it towards the
    middle, where the generator never saw its inputs. (Anti)parallel vectors fall back to lerp.
    """
    a64, b64, t64 = a.double(), b.double(), t.double()[:, None]
    cos = torch.dot(a64 / a64.norm(), b64 / b64.norm()).clamp(-1, 1)
    omega = torch.arccos(cos)
    if torch.sin(omega) < 1e-6:
        return lerp(a, b, t)
    out = (torch.sin((1 - t64) * omega) * a64 + torch.sin(t64 * omega) * b64) / torch.sin(omega)
    out[t64[:, 0] == 0] = a64  # the endpoints exactly, not to rounding
    out[t64[:, 0] == 1] = b64
    return out.to(a.dtype)


def interpolation_noise(latent_dim: int, seed_a: int, seed_b: int, frames: int, path: str = "slerp",
                        truncation: float | None = None) -> torch.Tensor:
    """(frames, latent_dim): the path from seed A's vector to seed B's (:func:`seed_vector`), ends included."""
    a, b = seed_vector(latent_dim, seed_a, truncation), seed_vector(latent_dim, seed_b, truncation)
    t = torch.linspace(0, 1, frames, dtype=torch.float64)
    return {"slerp": slerp, "lerp": lerp}[path](a, b, t)
