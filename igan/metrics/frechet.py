"""The Frechet distance of two feature sets (FID on Inception features), by its cheaper exact route.

torchmetrics computes ``tr sqrt(S_real S_fake)`` from the eigenvalues of a D x D product
(D = 2048 for Inception): costly on a CPU, at every evaluation, whatever the number of images.
With fewer images than dimensions the same trace is the sum of the singular values of the small
N x M cross-product of the centred features, far cheaper. Both routes give the same number
(tested against torchmetrics); the cross-product one is taken when it is smaller.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance


class FeaturePassThrough(nn.Module):
    """torchmetrics' ``feature`` module for features computed beforehand: returns its input.

    ``num_features`` spares torchmetrics its dummy forward at construction.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features


def frechet_distance(real: Tensor, fake: Tensor) -> float:
    """FID of ``real`` (N x D) against ``fake`` (M x D) features, N, M >= 2.

    With centred features scaled by 1/sqrt(count - 1), A (N x D) and B (M x D), the covariances
    are A^T A and B^T B, and tr sqrt(A^T A B^T B) is the sum of the singular values of A B^T.
    """
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"features must be (N, D) and (M, D), got {tuple(real.shape)} and {tuple(fake.shape)}")
    if len(real) < 2 or len(fake) < 2:
        raise ValueError("the Frechet distance needs at least 2 samples on each side")
    if min(len(real), len(fake)) >= real.shape[1]:
        return _torchmetrics_fid(real, fake)
    real, fake = real.double(), fake.double()
    a = (real - real.mean(0)) / (len(real) - 1) ** 0.5
    b = (fake - fake.mean(0)) / (len(fake) - 1) ** 0.5
    trace_sqrt = torch.linalg.svdvals(a @ b.T).sum()
    mean_term = (real.mean(0) - fake.mean(0)).pow(2).sum()
    return float(mean_term + a.pow(2).sum() + b.pow(2).sum() - 2 * trace_sqrt)


def _torchmetrics_fid(real: Tensor, fake: Tensor) -> float:
    """torchmetrics' D x D route, for sets of at least D samples each."""
    metric = FrechetInceptionDistance(feature=FeaturePassThrough(real.shape[1]), sync_on_compute=False)
    metric.update(real.float(), real=True)
    metric.update(fake.float(), real=False)
    return float(metric.compute())
