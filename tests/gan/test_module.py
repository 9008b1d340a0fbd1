"""The GAN module: its generator EMA end to end (averaged, checkpointed, sampled), lazy R1, its checks.

The losses and updates of its training step against a hand computation: tests/gan/test_step.py.
"""

import lightning as L
import pytest
import torch
from conftest import REPO
from test_ema import reference_standing_stats
from torch.utils.data import DataLoader, TensorDataset

import igan.gan.module as gan_module
from igan.gan import GAN
from igan.models import IDCGANDiscriminator, IDCGANGenerator
from igan.sampling import load_generator
from igan.training.cli import main

TINY = ["--model.generator.init_args.width=8", "--model.discriminator.init_args.width=8",
        "--trainer.max_epochs=1", "--trainer.limit_train_batches=3", "--data.batch_size=4",
        "--data.num_workers=0", "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
        "--metrics.every_n_epochs=0", "--samples.num=16"]


def test_ema_generator_is_averaged_checkpointed_and_sampled(tiny_cifar10, tmp_path):
    rc = main(["--config", str(REPO / "configs" / "cifar10_dcgan.yaml"), *TINY, f"--data.root={tiny_cifar10}",
               "--model.ema_decay=0.9", "--trainer.logger=false", "--run_name=ema",
               f"--trainer.default_root_dir={tmp_path / 'runs'}", f"--samples_root={tmp_path / 'samples'}"])
    assert rc == 0
    ckpt_path = tmp_path / "runs" / "ema" / "checkpoints" / "last.ckpt"
    ckpt = torch.load(ckpt_path, weights_only=True)
    state = ckpt["state_dict"]
    assert ckpt["global_step"] == 3  # generator updates
    assert state["generator_ema.num_updates"].item() == 3  # one EMA update per generator step
    live = {k[len("generator."):]: v for k, v in state.items() if k.startswith("generator.")}
    ema = {k[len("generator_ema.module."):]: v for k, v in state.items() if k.startswith("generator_ema.module.")}
    assert live and ema.keys() == live.keys()
    for key in live:
        if not key.endswith("num_batches_tracked"):  # weights and BatchNorm statistics
            assert not torch.equal(live[key], ema[key]), f"{key}: the EMA copy is the live generator's"
    assert not any(k.startswith("generator_ema") and v.requires_grad for k, v in state.items())

    generator = load_generator(ckpt_path)
    assert not generator.training
    loaded = generator.state_dict()
    assert loaded.keys() == ema.keys()
    for key, value in ema.items():
        assert torch.equal(loaded[key], value), f"load_generator did not return the EMA's {key}"
    # The saved BatchNorm statistics are those of the averaged weights (standing statistics).
    expected = reference_standing_stats(generator, batches=8, batch_size=64)  # GeneratorEMA's defaults
    norms = [m for m in generator.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and len(expected) == 2 * len(norms)  # running mean and variance of every BatchNorm
    for key, value in expected.items():
        assert torch.allclose(ema[key], value, rtol=1e-4, atol=1e-6), key


def test_lazy_r1_applies_the_penalty_every_interval_updates_scaled(monkeypatch):
    """r1_interval = k: R1 on updates 0, k, 2k, ... with weight gamma * k, none between (StyleGAN2)."""
    seen, logged = [], []

    def spy(*args, **kwargs):
        seen.append(kwargs["r1_gamma"])
        return real_terms(*args, **kwargs)

    real_terms = gan_module.discriminator_terms
    monkeypatch.setattr(gan_module, "discriminator_terms", spy)

    class StepTerms(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            logged.append("train/r1" in pl_module.step_losses)

    torch.manual_seed(0)
    g = IDCGANGenerator(image_size=16, channels=1, latent_dim=8, width=8)
    d = IDCGANDiscriminator(image_size=16, channels=1, width=8, batch_norm=False, involution_norm=False)
    module = GAN(g, d, loss="ns", r1_gamma=0.5, r1_interval=4)
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[StepTerms()])
    trainer.fit(module, DataLoader(TensorDataset(torch.rand(24, 1, 16, 16) * 2 - 1), batch_size=4))
    assert seen == [2.0, 0.0, 0.0, 0.0, 2.0, 0.0]
    assert logged == [True, False, False, False, True, False]
    assert int(module.d_updates) == 6


def test_settings_are_checked():
    g = IDCGANGenerator(image_size=16, channels=1, latent_dim=8, width=8)
    d = IDCGANDiscriminator(image_size=16, channels=1, width=8)
    with pytest.raises(ValueError, match="r1_interval must be >= 1"):
        GAN(g, d, r1_interval=0)
    with pytest.raises(ValueError, match="ema_rampup needs model.ema_decay"):
        GAN(g, d, ema_rampup=0.05)
    for decay in (0.0, 1.0):
        with pytest.raises(ValueError, match=r"ema_decay must be in \(0, 1\)"):
            GAN(g, d, ema_decay=decay)
