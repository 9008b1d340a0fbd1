"""Convergence, measured: FID, KID (and IS when the weights allow) through torchmetrics, and
precision, recall, density and coverage through prdc, on one Inception pass, offline.

- :mod:`igan.metrics.inception`: the Inception feature extractor and where its weights come from;
- :mod:`igan.metrics.cache`: real-image features, extracted once per dataset and kept on disk;
- :mod:`igan.metrics.evaluate`: the scores of generated images, one Inception pass per image;
- :mod:`igan.metrics.prdc_scores`: precision/recall (k = 3) and density/coverage (k = 5) on those features;
- :mod:`igan.metrics.callback`: :class:`Metrics`, the Lightning callback (``--metrics.*``);
- :mod:`igan.metrics.cli`: ``python -m igan.metrics DIR_A DIR_B``.

``Metrics`` is imported lazily so the command line does not pay for importing Lightning.
"""

from igan.metrics.evaluate import GANEvaluator, extract_features
from igan.metrics.inception import (
    ImageFeatures,
    InceptionFeatures,
    InceptionWeightsMissing,
    load_inception,
)

__all__ = [
    "GANEvaluator",
    "ImageFeatures",
    "InceptionFeatures",
    "InceptionWeightsMissing",
    "Metrics",
    "extract_features",
    "load_inception",
]


def __getattr__(name: str):
    if name == "Metrics":
        from igan.metrics.callback import Metrics

        return Metrics
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
