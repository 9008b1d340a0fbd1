"""Operators for involution GANs.

``involution`` is the functional operator (Li et al., CVPR 2021, Eq. 4);
``Involution2d`` the layer with kernel generation (Eq. 6). See
:mod:`igan.ops.functional` for the backends (``IGAN_INVOLUTION_BACKEND``).
"""

from .functional import BACKENDS, involution, involution_backend, involution_output_size
from .modules import Involution2d, same_padding

__all__ = ["BACKENDS", "Involution2d", "involution", "involution_backend", "involution_output_size", "same_padding"]
