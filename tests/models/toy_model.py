"""A toy fourth model, written as docs/guide/adding_a_model.md says: one file, named by a config.

MLPs on flattened images, small enough to train a few steps in a test. The classes at the end
each break one part of the contract, for the tests that check the error they get.
"""

import torch
from torch import nn

from igan.models.base import Discriminator, Generator


class ToyGenerator(Generator):
    """z (B, latent_dim) -> one hidden layer -> tanh image (B, channels, image_size, image_size)."""

    name = "toy"

    def __init__(self, image_size: int = 64, channels: int = 1, latent_dim: int = 16, hidden: int = 32) -> None:
        super().__init__(image_size, channels, latent_dim)
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, channels * image_size * image_size), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], self.channels, self.image_size, self.image_size)


class ToyDiscriminator(Discriminator):
    """Image -> one hidden layer -> one logit per image, shape (B, 1)."""

    name = "toy"

    def __init__(self, image_size: int = 64, channels: int = 1, hidden: int = 32) -> None:
        super().__init__(image_size, channels)
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(channels * image_size * image_size, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class HalfSizeGenerator(ToyGenerator):
    """Breaks the contract: images of half the declared side."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return nn.functional.avg_pool2d(super().forward(z), 2)


class NoLatentDimGenerator(Generator):
    """Breaks the contract: skips the base constructor and never sets ``latent_dim``."""

    name = "toy"

    def __init__(self, image_size: int = 64, channels: int = 1, hidden: int = 32) -> None:
        nn.Module.__init__(self)
        self.image_size, self.channels = image_size, channels
        self.net = nn.Linear(hidden, channels * image_size * image_size)
