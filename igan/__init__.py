"""igan: train and compare involution GANs against DCGAN and SAGAN."""

__version__ = "0.1.0"
