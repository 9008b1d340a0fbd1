"""The GAN LightningModule: trains any generator/discriminator pair with a chosen loss.

It knows nothing of architectures: the networks arrive built (LightningCLI instantiates them
from the config's class paths), and the checkpoint records them as plain specs.
"""

from __future__ import annotations

import copy
from typing import Literal, Optional

import lightning as L
import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from igan.losses import LOSSES, gradient_penalty, r1_penalty
from igan.models.spec import build_from_spec, spec_of


def _require_no_batch_norm(discriminator: nn.Module) -> None:
    """WGAN-GP penalises each sample's gradient norm; batch statistics would couple the samples."""
    found = [name for name, m in discriminator.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if found:
        raise ValueError(
            f"loss 'wgan-gp' needs a discriminator without BatchNorm, found it at {', '.join(found[:3])}; "
            "set the discriminator's batch_norm (and involution_norm) to false"
        )


class GAN(L.LightningModule):
    """Alternating discriminator / generator updates with manual optimization.

    Args:
        generator: maps z (B, generator.latent_dim) to images in [-1, 1].
        discriminator: maps images to one score per image.
        loss: ``ns`` (non-saturating BCE, DCGAN), ``hinge`` (SAGAN) or ``wgan-gp``.
        lr_g, lr_d: Adam learning rates (equal for DCGAN; TTUR 1e-4 / 4e-4 for SAGAN).
        betas: Adam betas.
        n_critic: discriminator updates per generator update (one per batch each).
        gp_weight: gradient-penalty weight for ``wgan-gp`` (lambda = 10 in Gulrajani et al.).
        r1_gamma: weight of the R1 penalty on real data (0 = off), for any loss.
        ema_decay: keep an exponential moving average of the generator with this decay
            (e.g. 0.999) and use it for grids and sampling; None = off.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        loss: Literal["ns", "hinge", "wgan-gp"] = "ns",
        lr_g: float = 2e-4,
        lr_d: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        n_critic: int = 1,
        gp_weight: float = 10.0,
        r1_gamma: float = 0.0,
        ema_decay: Optional[float] = None,
    ) -> None:
        super().__init__()
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        if ema_decay is not None and not 0.0 < ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1), got {ema_decay}")
        # Checkpoints hold the networks as specs (plain data), never as pickled modules.
        generator = build_from_spec(generator) if isinstance(generator, dict) else generator
        discriminator = build_from_spec(discriminator) if isinstance(discriminator, dict) else discriminator
        if loss == "wgan-gp":
            _require_no_batch_norm(discriminator)
        self.save_hyperparameters(ignore=["generator", "discriminator"])
        self.hparams["generator"] = spec_of(generator)
        self.hparams["discriminator"] = spec_of(discriminator)
        self.automatic_optimization = False
        self.generator = generator
        self.discriminator = discriminator
        self.loss_dis, self.loss_gen = LOSSES[loss]
        self.generator_ema: Optional[AveragedModel] = None
        if ema_decay is not None:
            self.generator_ema = AveragedModel(
                copy.deepcopy(generator), multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True
            )
            self.generator_ema.requires_grad_(False)  # updated by averaging, never by gradients

    @property
    def latent_dim(self) -> int:
        return self.generator.latent_dim

    def forward(self, z: Tensor) -> Tensor:
        return self.generator(z)

    @property
    def eval_generator(self) -> nn.Module:
        """The generator used for grids, sampling and evaluation: the EMA copy when on."""
        return self.generator_ema.module if self.generator_ema is not None else self.generator

    @torch.no_grad()
    def sample(self, z: Tensor) -> Tensor:
        """Images from ``z`` by :attr:`eval_generator`, in eval mode."""
        net = self.eval_generator
        was_training = net.training
        net.eval()
        try:
            return net(z.to(self.device))
        finally:
            net.train(was_training)

    def _scores_mean(self, scores: Tensor) -> Tensor:
        """D(x) as a probability for the BCE loss, as the raw score mean otherwise."""
        return torch.sigmoid(scores).mean() if self.hparams.loss == "ns" else scores.mean()

    def training_step(self, batch: Tensor, batch_idx: int) -> None:
        real = batch[0] if isinstance(batch, (tuple, list)) else batch
        opt_g, opt_d = self.optimizers()
        z = torch.randn(real.shape[0], self.latent_dim, device=self.device)

        # Discriminator (critic) update.
        self.toggle_optimizer(opt_d)
        with torch.no_grad():
            fake = self.generator(z)
        d_real, d_fake = self.discriminator(real), self.discriminator(fake)
        d_loss = self.loss_dis(d_real, d_fake)
        if self.hparams.loss == "wgan-gp":
            d_loss = d_loss + self.hparams.gp_weight * gradient_penalty(self.discriminator, real, fake)
        if self.hparams.r1_gamma > 0:
            d_loss = d_loss + self.hparams.r1_gamma * r1_penalty(self.discriminator, real)
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d_loss)
        opt_d.step()
        self.untoggle_optimizer(opt_d)
        self.log_dict(
            {"train/d_loss": d_loss, "train/D(x)": self._scores_mean(d_real), "train/D(G(z))": self._scores_mean(d_fake)},
            on_step=True, on_epoch=True, prog_bar=True,
        )

        # Generator update every n_critic batches.
        if (batch_idx + 1) % self.hparams.n_critic == 0:
            self.toggle_optimizer(opt_g)
            z = torch.randn_like(z)
            g_loss = self.loss_gen(self.discriminator(self.generator(z)))
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(g_loss)
            opt_g.step()
            self.untoggle_optimizer(opt_g)
            if self.generator_ema is not None:
                self.generator_ema.update_parameters(self.generator)
            self.log("train/g_loss", g_loss, on_step=True, on_epoch=True, prog_bar=True)

    def configure_optimizers(self):
        hp = self.hparams
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=hp.lr_g, betas=tuple(hp.betas))
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=hp.lr_d, betas=tuple(hp.betas))
        return [opt_g, opt_d]
