"""Generators and discriminators, selected in configs by class path (``igan.models.X``)."""

from igan.models.dcgan import DCGANDiscriminator, DCGANGenerator

__all__ = ["DCGANGenerator", "DCGANDiscriminator"]
