"""The GAN LightningModule: trains any generator/discriminator pair with a chosen loss.

Start at :meth:`GAN.training_step`: one iteration, top to bottom, as Lightning's own GAN example
writes it (toggle, loss, backward, step, log). The losses and penalties are
:mod:`igan.gan.step`'s (shared with the throughput benchmark's bare loop); this module adds the
optimizers, the update schedule, logging and checkpoint state. It knows nothing of architectures:
the networks arrive built (LightningCLI instantiates them from the config's class paths), and the
checkpoint records them as plain specs.

Several devices (``--trainer.devices=N --trainer.strategy=ddp``): each process trains on its own
``data.batch_size`` images per step and DDP averages the gradients, so one step sees
``data.batch_size x N`` real images (and as many fakes: the noise differs per process). Keep the
learning rates, or scale ``data.batch_size`` down by N to train with the single-device batch.
"""

from __future__ import annotations

import io
from typing import Any, Literal, Optional

import lightning as L
import torch
from lightning.pytorch.strategies import DDPStrategy
from torch import Tensor, nn

from igan.io.checkpoint_compat import old_epoch_sums, upgrade_network_specs
from igan.io.checkpoint_file import load_checkpoint_file
from igan.errors import IganError
from igan.gan.augment import parse_policy
from igan.gan.ema import GeneratorEMA
from igan.gan.losses import LOSSES
from igan.gan.schedule import budget_progress, linear_decay
from igan.gan.step import discriminator_terms, draw_fakes, generator_loss
from igan.lightning_internals import ddp_kwargs, step_logs_are_written
from igan.models.spec import build_from_spec, spec_of


def _require_no_batch_norm(discriminator: nn.Module, why: str) -> None:
    """Gradient penalties (WGAN-GP, R1) treat each sample's gradient on its own; batch statistics
    would couple the samples, so D(x_i) would depend on the other images of the batch."""
    found = [name for name, m in discriminator.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if found:
        raise ValueError(
            f"{why} needs a discriminator without BatchNorm, found it at {', '.join(found[:3])}; "
            "set the discriminator's batch_norm (and involution_norm) to false"
        )


def no_closure() -> None:
    """The closure of a manual optimizer step: the gradients are computed before ``step``, nothing to re-evaluate."""


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
        r1_interval: apply R1 on every this many D updates only, weighted by the interval
            (StyleGAN2's lazy regularisation: 16 costs a 16th of the double backward); 1 = every update.
        ema_decay: keep an exponential moving average of the generator with this decay
            (e.g. 0.999) and use it for grids and sampling; None = off.
        ema_rampup: cap the EMA's half-life at this share of the updates so far (StyleGAN2-ADA's
            0.05), so that the average does not lag early in a run; None = the fixed decay.
        lr_decay: the last share of the run's budget (epochs, steps or ``trainer.max_time``,
            whichever ends it first) over which both learning rates fall linearly to zero
            (:mod:`igan.gan.schedule`; 0.5 is CycleGAN's second half); 0 = constant rates.
        augment: differentiable augmentation of every image D sees, real and generated, e.g.
            ``"translation,cutout"`` (see :mod:`igan.gan.augment`); None = off.
        compile: train through ``torch.compile``-d G and D (the modules and checkpoints stay plain).
            Forwards that a penalty differentiates twice (WGAN-GP's interpolates, R1's real
            batch) run uncompiled: compiled graphs have no double backward. Costs a compilation
            at the start; the throughput benchmark says what it buys.
        channels_last: keep G, D and the batches in channels-last memory format (NHWC), which
            oneDNN and cuDNN convolutions prefer; results are the same up to float rounding.
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
        r1_interval: int = 1,
        ema_decay: Optional[float] = None,
        ema_rampup: Optional[float] = None,
        lr_decay: float = 0.0,
        augment: Optional[str] = None,
        compile: bool = False,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        if r1_interval < 1:
            raise ValueError(f"model.r1_interval must be >= 1, got {r1_interval}")
        if ema_rampup is not None and ema_decay is None:
            raise ValueError("model.ema_rampup needs model.ema_decay (the decay after the ramp-up)")
        for name, value in (("lr_g", lr_g), ("lr_d", lr_d), ("gp_weight", gp_weight), ("r1_gamma", r1_gamma)):
            if not value >= 0 or (name.startswith("lr") and value == 0):
                raise ValueError(f"model.{name} must be {'> 0' if name.startswith('lr') else '>= 0'}, got {value}")
        linear_decay(0.0, lr_decay)  # rejects a share outside [0, 1] before training starts
        self.augment_policy = parse_policy(augment)
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"model.betas must both be in [0, 1), got {list(betas)}")
        # Checkpoints hold the networks as specs (plain data), never as pickled modules.
        generator = build_from_spec(generator) if isinstance(generator, dict) else generator
        discriminator = build_from_spec(discriminator) if isinstance(discriminator, dict) else discriminator
        if loss == "wgan-gp":
            _require_no_batch_norm(discriminator, "loss 'wgan-gp'")
        if r1_gamma > 0:
            _require_no_batch_norm(discriminator, "the R1 penalty (r1_gamma > 0)")
        self.save_hyperparameters(ignore=["generator", "discriminator"])
        self.hparams["generator"] = spec_of(generator)
        self.hparams["discriminator"] = spec_of(discriminator)
        self.automatic_optimization = False
        self.generator = generator
        self.discriminator = discriminator
        self.loss_dis, self.loss_gen = LOSSES[loss]
        self.generator_ema = GeneratorEMA(generator, ema_decay, ema_rampup) if ema_decay is not None else None
        # Progress in epochs completed (fractional inside an epoch): the one `epoch` axis of the logs.
        self.epochs_completed: float = 0.0
        self.register_buffer("d_updates", torch.zeros((), dtype=torch.long))
        self._epoch_sums: dict[str, Tensor] = {}
        #: The last training step's loss terms (``train/d_loss``, ...), logged or not.
        self.step_losses: Optional[dict[str, Tensor]] = None
        self._latest_losses: dict[str, Tensor] = {}
        self._epoch_counts: dict[str, int] = {}
        # Compiled views of G and D when ``compile`` is on (a dict, so that they are not registered
        # as submodules and state_dict keys stay the same).
        self._compiled: dict[str, Any] = {}

    def configure_optimizers(self):
        hp = self.hparams
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=hp.lr_g, betas=tuple(hp.betas))
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=hp.lr_d, betas=tuple(hp.betas))
        return [opt_g, opt_d]

    def training_step(self, batch: Tensor, batch_idx: int) -> None:
        """One iteration: a discriminator update on every batch, a generator update every ``n_critic``."""
        real = batch[0] if isinstance(batch, (tuple, list)) else batch
        if self.hparams.get("channels_last"):
            real = real.contiguous(memory_format=torch.channels_last)
        opt_g, opt_d = self.optimizers()
        fast_g, fast_d = self._net("generator"), self._net("discriminator")  # compiled when model.compile
        if self.hparams.get("lr_decay"):
            # The epochs done before this step, from Lightning's counters (restored on resume).
            done = self.current_epoch + batch_idx / max(1, self.trainer.num_training_batches)
            self._decay_learning_rates(opt_g, opt_d, done)
        fake = draw_fakes(fast_g, real.shape[0], self.latent_dim, self.device)

        # Discriminator: its loss and penalties on the real batch and the fakes (G frozen).
        self.toggle_optimizer(opt_d)
        d_total, terms = discriminator_terms(self.discriminator, real, fake, self.loss_dis, fast_discriminator=fast_d,
                                             **self.discriminator_options(int(self.d_updates)))
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d_total)
        # Through the strategy, not LightningOptimizer.step: the trainer's global_step then counts
        # generator updates (the iterations of GAN papers), not the steps of both optimizers.
        self.trainer.strategy.optimizer_step(opt_d.optimizer, closure=no_closure)
        self.untoggle_optimizer(opt_d)
        self.d_updates += 1

        # Generator: D's verdict on fresh fakes (D frozen), then the EMA copy follows.
        if (batch_idx + 1) % self.hparams.n_critic == 0:
            self.toggle_optimizer(opt_g)
            g_loss = generator_loss(fast_g, fast_d, real.shape[0], self.latent_dim, self.loss_gen,
                                    augment_policy=self.augment_policy, device=self.device)
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(g_loss)
            opt_g.step()
            self.untoggle_optimizer(opt_g)
            if self.generator_ema is not None:
                self.generator_ema.update(self.generator)
            terms["g_loss"] = g_loss

        # Log: the epoch's sums (metrics.csv), and the step's values (written in on_train_batch_end).
        self._accumulate(terms)
        self.step_losses = {f"train/{k}": v.detach() for k, v in terms.items()}
        self._latest_losses.update(self.step_losses)  # g_loss stays from its last G step (n_critic > 1)
        self.epochs_completed = self.current_epoch + (batch_idx + 1) / max(1, self.trainer.num_training_batches)

    def _decay_learning_rates(self, opt_g, opt_d, epochs_done: float) -> None:
        """Set both rates for this step from the share of the budget spent (``model.lr_decay``)."""
        scale = linear_decay(budget_progress(self.trainer, epochs_done), self.hparams.lr_decay)
        for opt, base in ((opt_g, self.hparams.lr_g), (opt_d, self.hparams.lr_d)):
            for group in opt.param_groups:
                group["lr"] = base * scale

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Log the step values only on the batches whose values Lightning writes to the loggers.

        ``self.log`` is costly per call (docs/lab/performance.md) and the other batches' values are
        never written. This hook runs after the callbacks (which may stop the run) and before the
        write, so the loggers get the same points, each key's latest value in this epoch, as if
        every batch logged; ``step_losses`` keeps every step's terms for the divergence guard.
        """
        take = step_logs_are_written(self.trainer) or self.trainer.fast_dev_run
        if take and self._latest_losses:
            self.log_dict(self._latest_losses, on_step=True, on_epoch=False, prog_bar=True)

    def discriminator_options(self, update: int = 0, penalties: bool = True) -> dict[str, Any]:
        """The settings :func:`igan.gan.step.discriminator_terms` takes for D update number ``update``
        (``penalties=False``: the same update without WGAN-GP and R1, as the throughput benchmark times it).

        Lazy R1 (``r1_interval`` k > 1): the penalty on updates 0, k, 2k, ... only, weighted by k."""
        hp = self.hparams
        interval = hp.get("r1_interval", 1)
        r1_gamma = hp.r1_gamma * interval if penalties and update % interval == 0 else 0.0
        return {"augment_policy": self.augment_policy,
                "gp_weight": hp.gp_weight if penalties and hp.loss == "wgan-gp" else None,
                "r1_gamma": r1_gamma, "probabilities": hp.loss == "ns"}

    def _net(self, name: str):
        """What the training step calls: the compiled view of a network, or the network itself."""
        compiled = self._compiled.get(name)
        return compiled if compiled is not None else getattr(self, name)

    def _accumulate(self, values: dict[str, Tensor]) -> None:
        for key, value in values.items():
            self._epoch_sums[key] = self._epoch_sums.get(key, 0.0) + value.detach().float()
            self._epoch_counts[key] = self._epoch_counts.get(key, 0) + 1

    def on_train_epoch_start(self) -> None:
        self._epoch_sums, self._epoch_counts = {}, {}
        self._latest_losses = {}  # Lightning forgets step values at an epoch's end too

    def epoch_means(self) -> dict[str, float]:
        """Means over the epoch of the logged quantities, each over the iterations that produced it
        (``g_loss`` over generator updates only, when ``n_critic`` > 1)."""
        return {k: (v / self._epoch_counts[k]).item() for k, v in self._epoch_sums.items()}

    def setup(self, stage: str) -> None:
        """Prepare DDP for two backward passes per step, and give each process its own noise."""
        strategy = self.trainer.strategy
        if isinstance(strategy, DDPStrategy):
            # Each step has two backward passes (D's loss, then G's), and each reaches one network's
            # parameters only. DDP must look for the parameters a backward did not reach, or it
            # waits for their gradients and fails at the next backward (Lightning's advice too).
            # Set here, before the strategy wraps the module, so that plain `strategy=ddp` works.
            kwargs = ddp_kwargs(strategy)
            if kwargs.get("find_unused_parameters") is False:
                raise IganError("GAN training under DDP needs find_unused_parameters=True (each backward reaches only "
                                "G's or only D's parameters): use --trainer.strategy=ddp")
            kwargs["find_unused_parameters"] = True
        if stage == "fit" and self.trainer.world_size > 1 and self.global_rank > 0:
            # Lightning seeds every process alike: without this, all would draw the same noise (and
            # penalty interpolation, augmentation), so N devices would see N copies of each fake.
            # Rank 0 keeps the stream of a single-device run.
            torch.manual_seed(torch.initial_seed() + self.global_rank)

    def on_fit_start(self) -> None:
        """Apply the fast paths once the networks sit on their device."""
        if self.hparams.get("channels_last"):
            for net in (self.generator, self.discriminator, self.generator_ema.module if self.generator_ema else None):
                if net is not None:
                    net.to(memory_format=torch.channels_last)
        if self.hparams.get("compile"):
            self._compiled = {name: torch.compile(getattr(self, name)) for name in ("generator", "discriminator")}

    def on_train_start(self) -> None:
        """Sums restored from a checkpoint were read onto the CPU: move them to the module's device."""
        self._epoch_sums = {k: v.to(self.device) for k, v in self._epoch_sums.items()}

    @property
    def latent_dim(self) -> int:
        return self.generator.latent_dim

    def forward(self, z: Tensor) -> Tensor:
        return self.generator(z)

    @property
    def eval_generator(self) -> nn.Module:
        """The generator used for grids, sampling and evaluation: the EMA copy when on."""
        return self.generator_ema.ready_module() if self.generator_ema is not None else self.generator

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

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Record the W&B run id, so ``--ckpt_path`` continues the same run, and the loss sums of the
        epoch in progress, so that a run resumed mid-epoch logs the same epoch means."""
        from lightning.pytorch.loggers import WandbLogger

        for logger in self.loggers:
            if isinstance(logger, WandbLogger) and logger.version:
                checkpoint.setdefault("igan", {})["wandb_run_id"] = logger.version
        checkpoint.setdefault("igan", {})["epoch_sums"] = {
            "sums": {k: torch.as_tensor(v).detach().cpu() for k, v in self._epoch_sums.items()},
            "counts": {k: int(v) for k, v in self._epoch_counts.items()},
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Restore the epoch's loss sums (a new epoch clears them in ``on_train_epoch_start``)."""
        saved = (checkpoint.get("igan") or {}).get("epoch_sums")
        if saved is None:
            saved = old_epoch_sums(checkpoint)
        self._epoch_sums = {k: torch.as_tensor(v) for k, v in saved["sums"].items()}
        self._epoch_counts = {k: int(v) for k, v in saved["counts"].items()}

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path, map_location=None, *args, **kwargs):
        """Lightning's ``load_from_checkpoint``, reading the file without pickled code and with the
        networks' specs upgraded (:mod:`igan.io.checkpoint_compat`): a SAGAN checkpoint from before
        the pooled attention block rebuilds the full-width block it holds, whether Lightning builds
        the networks from the specs itself or through LightningCLI's instantiator."""
        ckpt = load_checkpoint_file(checkpoint_path, map_location or "cpu")
        upgrade_network_specs(ckpt.get("hyper_parameters") or {})
        buffer = io.BytesIO()
        torch.save(ckpt, buffer)
        buffer.seek(0)
        return super().load_from_checkpoint(buffer, map_location, *args, **kwargs)
