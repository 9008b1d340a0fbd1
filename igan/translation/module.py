"""The LightningModule of printed-to-calligraphy translation (pix2pix with zi2zi's style embedding).

One step: a discriminator update on (source, true glyph) against (source, translated glyph), then
a generator update on the adversarial loss plus ``l1_weight`` times the L1 distance to the true
glyph (pix2pix's 100). Adam(2e-4, (0.5, 0.999)) for both, as pix2pix and zi2zi train.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from igan.errors import IganError
from igan.gan.module import no_closure
from igan.lightning_internals import step_logs_are_written
from igan.translation.models import Block, PatchDiscriminator, UNetGenerator


class Translation(L.LightningModule):
    """U-Net generator + conditional PatchGAN, trained on (source, target, style) batches.

    Args:
        image_size, num_styles: set by the CLI from the data (``data.image_size``, ``data.styles``).
        block: the block compared, at ``block_resolutions`` in both networks (``conv``, ``attention``, ``involution``).
        block_resolutions: feature-map sides that get the block (16 = the 16x16 stages at 64 px).
        width_g, width_d: channels of the first stage of G and D.
        style_dim: size of the generator's style embedding.
        kernel_size, group_channels, reduction_ratio: of the conv and involution blocks.
        attention_pool: max-pooling of the attention's keys and values.
        l1_weight: weight of the L1 term in the generator loss.
        lr, betas: Adam's, for both networks.
    """

    def __init__(
        self,
        image_size: int = 64,
        num_styles: int = 1,
        block: Block = "conv",
        block_resolutions: list[int] = [16],
        width_g: int = 16,
        width_d: int = 16,
        style_dim: int = 64,
        kernel_size: int = 3,
        group_channels: int = 16,
        reduction_ratio: int = 2,
        attention_pool: int = 2,
        l1_weight: float = 100.0,
        lr: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
    ) -> None:
        super().__init__()
        if num_styles < 1:
            raise IganError(f"model.num_styles must be >= 1, got {num_styles}")
        if not lr > 0 or not l1_weight >= 0:
            raise IganError(f"model.lr must be > 0 and model.l1_weight >= 0, got {lr}, {l1_weight}")
        if not all(0.0 <= b < 1.0 for b in betas):
            raise IganError(f"model.betas must both be in [0, 1), got {list(betas)}")
        self.save_hyperparameters()
        block_args = dict(kernel_size=kernel_size, group_channels=group_channels, reduction_ratio=reduction_ratio,
                          attention_pool=attention_pool)
        resolutions = tuple(block_resolutions)
        self.generator = UNetGenerator(image_size, num_styles, width_g, style_dim, block, resolutions, **block_args)
        self.discriminator = PatchDiscriminator(image_size, num_styles, width_d, block, resolutions, **block_args)
        self.automatic_optimization = False
        self.epochs_completed: float = 0.0
        self.register_buffer("d_updates", torch.zeros((), dtype=torch.long))
        self.step_losses: dict[str, Tensor] = {}
        self._epoch_sums: dict[str, Tensor] = {}
        self._epoch_counts: dict[str, int] = {}

    @property
    def eval_generator(self):
        return self.generator

    @torch.no_grad()
    def translate(self, source: Tensor, style: Tensor) -> Tensor:
        """The generator's output in eval mode (BatchNorm's running statistics), training mode restored."""
        was_training = self.generator.training
        self.generator.eval()
        try:
            return self.generator(source.to(self.device), style.to(self.device))
        finally:
            self.generator.train(was_training)

    def forward(self, source: Tensor, style: Tensor) -> Tensor:
        return self.generator(source, style)

    def configure_optimizers(self):
        hp = self.hparams
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=hp.lr, betas=tuple(hp.betas))
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=hp.lr, betas=tuple(hp.betas))
        return [opt_g, opt_d]

    def training_step(self, batch, batch_idx: int) -> None:
        source, target, style = batch
        opt_g, opt_d = self.optimizers()
        fake = self.generator(source, style)

        self.toggle_optimizer(opt_d)
        real_logits = self.discriminator(source, target, style)
        fake_logits = self.discriminator(source, fake.detach(), style)
        d_loss = 0.5 * (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                        + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d_loss)
        self.trainer.strategy.optimizer_step(opt_d.optimizer, closure=no_closure)
        self.untoggle_optimizer(opt_d)
        self.d_updates += 1

        self.toggle_optimizer(opt_g)
        logits = self.discriminator(source, fake, style)
        g_adv = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        l1 = (fake - target).abs().mean()
        g_loss = g_adv + self.hparams.l1_weight * l1
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g_loss)
        opt_g.step()
        self.untoggle_optimizer(opt_g)

        terms = {"d_loss": d_loss, "g_loss": g_loss, "g_adv": g_adv, "train_l1": l1,
                 "d_real": torch.sigmoid(real_logits).mean(), "d_fake": torch.sigmoid(fake_logits).mean()}
        for key, value in terms.items():
            self._epoch_sums[key] = self._epoch_sums.get(key, 0.0) + value.detach().float()
            self._epoch_counts[key] = self._epoch_counts.get(key, 0) + 1
        self.step_losses = {f"train/{k}": v.detach() for k, v in terms.items()}
        self.epochs_completed = self.current_epoch + (batch_idx + 1) / max(1, self.trainer.num_training_batches)

    def on_train_start(self) -> None:
        self._epoch_sums = {k: v.to(self.device) for k, v in self._epoch_sums.items()}

    def on_train_epoch_start(self) -> None:
        self._epoch_sums, self._epoch_counts = {}, {}

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Log step values only where Lightning writes them (``self.log`` is costly per call)."""
        if self.step_losses and (step_logs_are_written(self.trainer) or self.trainer.fast_dev_run):
            self.log_dict(self.step_losses, on_step=True, on_epoch=False, prog_bar=True)

    def epoch_means(self) -> dict[str, float]:
        """Means over the epoch's iterations of the training losses (``metrics.csv``'s loss columns)."""
        return {k: (v / self._epoch_counts[k]).item() for k, v in self._epoch_sums.items()}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """The W&B run id (``--ckpt_path`` continues that run) and the epoch's loss sums (exact resume)."""
        from lightning.pytorch.loggers import WandbLogger

        igan = checkpoint.setdefault("igan", {})
        for logger in self.loggers:
            if isinstance(logger, WandbLogger) and logger.version:
                igan["wandb_run_id"] = logger.version
        igan["task"] = "translation"
        igan["epoch_sums"] = {"sums": {k: torch.as_tensor(v).detach().cpu() for k, v in self._epoch_sums.items()},
                              "counts": dict(self._epoch_counts)}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        saved = (checkpoint.get("igan") or {}).get("epoch_sums") or {"sums": {}, "counts": {}}
        self._epoch_sums = {k: torch.as_tensor(v) for k, v in saved["sums"].items()}
        self._epoch_counts = {k: int(v) for k, v in saved["counts"].items()}
