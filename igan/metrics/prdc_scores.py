"""Precision, recall, density and coverage of generated features against real ones: FID split in two.

FID mixes quality and diversity in one number and can rank a collapsed generator first. These
four tell "sharp but few" from "varied but blurry", on the same Inception pool features:

- precision, recall (Kynkaanniemi et al. 2019, k = 3): the share of generated samples inside the
  real manifold (the union of balls reaching each real sample's k-th nearest real neighbour), and
  the share of real samples inside the generated manifold;
- density, coverage (Naeem et al. 2020, k = 5): how many real balls contain each generated sample
  (divided by k, 1 on average when the two match; above 1 when samples crowd dense regions), and
  the share of real balls that contain at least one generated sample. A collapse drives recall
  and coverage towards 0 while precision may stay high;
- distinct_nn: the number of distinct real samples that are some generated sample's nearest real
  neighbour, over the number of generated samples. Generated samples spread like the real ones
  land near many different real samples; a generator drawing one to four glyphs for every z
  (partial collapse) sends all its samples to the few real samples near those glyphs, whatever
  the spread of the glyphs themselves, and one glyph under small shifts likewise. It depends on
  the sample counts and the feature space (hubs: real samples that are many samples' nearest
  neighbour), so it is read against its real-vs-real value at the same counts (real_reference.json).

The k-NN distances come from the ``prdc`` package by Naeem et al. Its ``compute_prdc`` is not
called: it takes one k for all four (each paper has its own), so two calls would compute every
distance matrix twice; it recomputes the real samples' radii at every evaluation, though the real
features never change; and it prints to stdout. :class:`RealManifold` computes the real radii once
and each evaluation one real-fake and one fake-fake distance matrix, with ``compute_prdc``'s own
comparisons (a test checks that both give the same numbers).
"""

from __future__ import annotations

from typing import Optional, Union

import numpy as np
from prdc.prdc import compute_nearest_neighbour_distances, compute_pairwise_distance, get_kth_value
from torch import Tensor

#: Neighbours of precision and recall (Kynkaanniemi et al. 2019).
PR_NEAREST_K = 3
#: Neighbours of density and coverage (Naeem et al. 2020).
DC_NEAREST_K = 5
KEYS = ("precision", "recall", "density", "coverage")
#: The collapse measure computed beside them, from the same distances.
DISTINCT_NN = "distinct_nn"
#: Everything :meth:`RealManifold.score` returns.
SCORES = (*KEYS, DISTINCT_NN)
#: Fewest samples with a k-th neighbour besides themselves (``get_kth_value`` at k + 1 needs more than k + 1).
MIN_REAL = DC_NEAREST_K + 2
MIN_FAKE = PR_NEAREST_K + 2

Features = Union[Tensor, np.ndarray]


def _numpy(features: Features) -> np.ndarray:
    if isinstance(features, Tensor):
        features = features.detach().float().cpu().numpy()
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2:
        raise ValueError(f"features must be (N, D), got shape {features.shape}")
    return features


class RealManifold:
    """The real samples' k-NN radii, computed once; :meth:`score` rates generated features against them.

    Args:
        real: ``(N, D)`` real features, N >= :data:`MIN_REAL`.
    """

    def __init__(self, real: Features) -> None:
        self.real = _numpy(real)
        if len(self.real) < MIN_REAL:
            raise ValueError(f"precision/recall/density/coverage need at least {MIN_REAL} real samples, got {len(self.real)}")
        distances = compute_pairwise_distance(self.real)
        # k + 1: each sample's distance to itself (0) is the smallest.
        self.radii_pr = get_kth_value(distances, k=PR_NEAREST_K + 1, axis=-1)
        self.radii_dc = get_kth_value(distances, k=DC_NEAREST_K + 1, axis=-1)

    def __len__(self) -> int:
        return len(self.real)

    def score(self, fake: Features) -> dict[str, float]:
        """``{"precision", "recall", "density", "coverage", "distinct_nn"}`` of ``(M, D)`` fake features,
        M >= :data:`MIN_FAKE`."""
        fake = _numpy(fake)
        if fake.shape[1] != self.real.shape[1]:
            raise ValueError(f"fake features have {fake.shape[1]} dimensions, real ones {self.real.shape[1]}")
        if len(fake) < MIN_FAKE:
            raise ValueError(f"precision/recall/density/coverage need at least {MIN_FAKE} generated samples, got {len(fake)}")
        real_fake = compute_pairwise_distance(self.real, fake)  # (N, M)
        fake_radii = compute_nearest_neighbour_distances(fake, PR_NEAREST_K)
        inside_pr = real_fake < self.radii_pr[:, None]  # fake j in real i's k=3 ball
        inside_dc = real_fake < self.radii_dc[:, None]  # ... in its k=5 ball
        return {
            "precision": float(inside_pr.any(axis=0).mean()),
            "recall": float((real_fake < fake_radii[None, :]).any(axis=1).mean()),
            "density": float(inside_dc.sum(axis=0).mean() / DC_NEAREST_K),
            "coverage": float((real_fake.min(axis=1) < self.radii_dc).mean()),
            DISTINCT_NN: distinct_nearest(real_fake),
        }


def distinct_nearest(real_fake: np.ndarray) -> float:
    """Distinct nearest real neighbours over generated samples, from the ``(N real, M fake)`` distances."""
    return float(len(np.unique(real_fake.argmin(axis=0))) / real_fake.shape[1])


def reference_size(total: int, n: int) -> int:
    """Size of each of two disjoint sets drawn from ``total`` samples: ``n`` when there are 2n, else total // 2."""
    return min(n, total // 2)


def real_vs_real(real: Features, n: Optional[int] = None) -> Optional[dict[str, float]]:
    """The scores of ``real[n:2n]`` against the real set ``real[:n]``: what a generator as good as the
    data reaches against that real set at ``n`` samples. None when n < :data:`MIN_REAL`.

    ``n`` defaults to half of ``real``, and is at most that (:func:`reference_size`). Pass features
    in a random order (the callback's real images are a seeded permutation), so the two sets are
    two random draws rather than, say, two fonts.
    """
    real = _numpy(real)
    n = reference_size(len(real), len(real) if n is None else n)
    if n < MIN_REAL:
        return None
    return RealManifold(real[:n]).score(real[n : 2 * n])
