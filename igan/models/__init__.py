"""Generators and discriminators, selected in configs by class path (``igan.models.X``).

Every model derives from :class:`Generator` and :class:`Discriminator` (:mod:`igan.models.base`,
the contract the rest of igan relies on; docs/guide/adding_a_model.md adds one). The three shipped here
share the DCGAN backbone (:mod:`igan.models.dcgan`); SAGAN adds self-attention and spectral norm,
IDCGAN adds involution, each at the same place, so they compare cleanly.
"""

from igan.models.base import Discriminator, Generator
from igan.models.dcgan import DCGANDiscriminator, DCGANGenerator
from igan.models.idcgan import IDCGANDiscriminator, IDCGANGenerator
from igan.models.sagan import SAGANDiscriminator, SAGANGenerator

__all__ = [
    "Generator", "Discriminator",
    "DCGANGenerator", "DCGANDiscriminator",
    "SAGANGenerator", "SAGANDiscriminator",
    "IDCGANGenerator", "IDCGANDiscriminator",
]
