"""Datasets: rendered Kai calligraphy (default), CIFAR-10 and any image folder."""

from igan.data.datamodule import GANDataModule

__all__ = ["GANDataModule"]
