"""An exponential moving average (EMA) of the generator's weights, for grids, metrics and sampling.

Only *parameters* are averaged: ``ema = decay * ema + (1 - decay) * live`` after each generator
update. Buffers are not weights and are not averaged (``AveragedModel(use_buffers=True)`` did):

- spectral norm's singular vectors ``u, v`` must be those of the *averaged* weights (an average of
  unit vectors is neither unit length nor a singular vector): one warm-started power iteration per
  update keeps them converged, as training-mode forwards do for the live generator;
- BatchNorm running statistics must describe the averaged network's activations: they are
  re-estimated from fresh noise before the EMA generator is used ("standing statistics", as
  BigGAN does for its EMA generator), with a private RNG so training is not disturbed.
"""

from __future__ import annotations

import copy
from typing import Optional

import torch
from torch import Tensor, nn

from igan.models.layers import refresh_spectral_norm


class GeneratorEMA(nn.Module):
    """EMA copy of ``generator`` (``self.module``), never trained by gradients.

    Args:
        generator: the live generator; copied once here.
        decay: weight of the old average per update (e.g. 0.999), the value after the ramp-up.
        rampup: StyleGAN2-ADA's ramp-up of the half-life: the average's half-life is at most
            ``rampup`` x the updates so far (0.05: 5% of the run), so that early on the average
            follows the quickly changing generator instead of lagging hundreds of steps behind it;
            None = the fixed ``decay`` from the first update.
        stats_batches, stats_batch_size: noise batches drawn to re-estimate BatchNorm statistics.
    """

    def __init__(self, generator: nn.Module, decay: float, rampup: Optional[float] = None,
                 stats_batches: int = 8, stats_batch_size: int = 64) -> None:
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1), got {decay}")
        if rampup is not None and not rampup > 0:
            raise ValueError(f"ema_rampup must be > 0, got {rampup}")
        self.module = copy.deepcopy(generator).requires_grad_(False)
        self.decay, self.rampup = decay, rampup
        self.stats_batches, self.stats_batch_size = stats_batches, stats_batch_size
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))
        self._stats_stale = True

    def current_decay(self) -> float:
        """The decay of the next update: ``decay``, or less while the ramp-up caps the half-life."""
        if self.rampup is None:
            return self.decay
        # A half-life of h updates is a decay of 0.5 ** (1 / h); the ramp-up caps h at rampup * n.
        half_life = self.rampup * (int(self.num_updates) + 1)
        return min(self.decay, 0.5 ** (1.0 / half_life))

    @torch.no_grad()
    def update(self, generator: nn.Module) -> None:
        """Move the average towards ``generator``'s current parameters."""
        ema_params = list(self.module.parameters())
        live_params = [p.detach() for p in generator.parameters()]
        torch._foreach_lerp_(ema_params, live_params, 1.0 - self.current_decay())  # ema += (1 - decay) * (live - ema)
        refresh_spectral_norm(self.module, iterations=1)
        self.num_updates += 1
        self._stats_stale = True

    def _has_batch_norm(self) -> bool:
        return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.module.modules())

    @torch.no_grad()
    def refresh_batch_norm_stats(self) -> None:
        """Re-estimate BatchNorm running statistics of the averaged weights from seeded noise."""
        norms = [m for m in self.module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if norms:
            momenta = [m.momentum for m in norms]
            for m in norms:
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the batches below
            device = next(self.module.parameters()).device
            rng = torch.Generator(device="cpu").manual_seed(0)
            was_training = self.module.training
            self.module.train()
            for _ in range(self.stats_batches):
                z = torch.randn(self.stats_batch_size, self.module.latent_dim, generator=rng)
                self.module(z.to(device))
            self.module.train(was_training)
            for m, momentum in zip(norms, momenta):
                m.momentum = momentum
        self._stats_stale = False

    def ready_module(self) -> nn.Module:
        """The averaged generator with statistics that match its weights."""
        if self._stats_stale and self._has_batch_norm():
            self.refresh_batch_norm_stats()
        self._stats_stale = False
        return self.module

    def _save_to_state_dict(self, destination, prefix, keep_vars) -> None:
        # Checkpoints hold BatchNorm statistics that match the averaged weights saved beside them
        # (runs before the children are saved).
        self.ready_module()
        super()._save_to_state_dict(destination, prefix, keep_vars)

    def forward(self, z: Tensor) -> Tensor:
        return self.ready_module()(z)
