"""Convergence, measured: FID, KID (and IS when the weights allow) through torchmetrics, and
precision, recall, density and coverage through prdc, on one Inception pass, offline.

- :mod:`igan.metrics.inception`: the Inception feature extractor and where its weights come from;
- :mod:`igan.metrics.cache`: real-image features, extracted once per dataset and kept on disk;
- :mod:`igan.metrics.evaluate`: the scores of generated images, one Inception pass per image;
- :mod:`igan.metrics.prdc_scores`: precision/recall (k = 3) and density/coverage (k = 5) on those features;
- :mod:`igan.metrics.callback`: :class:`Metrics`, the Lightning callback (``--metrics.*``);
- :mod:`igan.metrics.cli`: ``igan metrics DIR_A DIR_B``;
- :mod:`igan.metrics.real_reference`: the run folder's real-vs-real reference, written and read back.

Names are imported on first use: the command line does not pay for Lightning, and reports that
read a run's reference file do not pay for torch and torchmetrics.
"""

import importlib

#: Each public name and the module that defines it.
_EXPORTS = {
    "GANEvaluator": "igan.metrics.evaluate",
    "extract_features": "igan.metrics.evaluate",
    "ImageFeatures": "igan.metrics.inception",
    "InceptionFeatures": "igan.metrics.inception",
    "InceptionWeightsMissing": "igan.metrics.inception",
    "load_inception": "igan.metrics.inception",
    "Metrics": "igan.metrics.callback",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
