"""Generators and discriminators, selected in configs by class path (``igan.models.X``).

All share the DCGAN backbone (:mod:`igan.models.dcgan`); SAGAN adds self-attention and
spectral norm, IDCGAN adds involution, each at the same place, so they compare cleanly.
"""

from igan.models.dcgan import DCGANDiscriminator, DCGANGenerator
from igan.models.idcgan import IDCGANDiscriminator, IDCGANGenerator
from igan.models.sagan import SAGANDiscriminator, SAGANGenerator

__all__ = [
    "DCGANGenerator", "DCGANDiscriminator",
    "SAGANGenerator", "SAGANDiscriminator",
    "IDCGANGenerator", "IDCGANDiscriminator",
]
