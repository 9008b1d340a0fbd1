"""The unconditional GAN task: one generator, one discriminator, images from noise.

- :mod:`igan.gan.module`: :class:`GAN`, the LightningModule; its ``training_step`` is one training
  iteration read top to bottom (toggle, loss, backward, step, log).
- :mod:`igan.gan.step`: the losses of that iteration (D's loss and penalties, G's loss), plain
  functions that the throughput benchmark's bare loop calls too.
- :mod:`igan.gan.losses`: the loss functions (non-saturating, hinge, Wasserstein) and the
  WGAN-GP and R1 penalties.
- :mod:`igan.gan.augment`: differentiable augmentation of D's inputs (``model.augment``).
- :mod:`igan.gan.ema`: the exponential moving average of the generator (``model.ema_decay``).
- :mod:`igan.gan.schedule`: the learning rates' decay to the end of the budget (``model.lr_decay``).

Printed-to-calligraphy translation, the conditional task, is :mod:`igan.translation`.
"""

from igan.gan.module import GAN

__all__ = ["GAN"]
