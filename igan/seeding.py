"""Seeds derived from a run's seed, so each random stream depends on its place in the run alone."""

from __future__ import annotations

import hashlib

SEED_MASK = (1 << 63) - 1


def derived_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed for ``parts`` (e.g. ``"order", epoch``) of a run seeded with ``seed``, mixed by a hash."""
    text = "/".join(["igan", str(int(seed)), *map(str, parts)])
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") & SEED_MASK
