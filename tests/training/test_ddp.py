"""Two-process DDP on CPU (gloo): train_gan.py's CLI with ``--trainer.devices=2 --trainer.strategy=ddp``.

A GAN step has two backward passes, each reaching only one network's parameters; plain DDP
fails on that at the first generator backward. The run below is real: Lightning's launcher starts
the second process by running the same script again, each process trains on its own half of the
data (``data.batch_size`` images per process and step: the effective batch is
``data.batch_size x devices``), DDP averages the gradients.

The script run is a small runner written beside the data: it points torchvision's integrity check
at the tiny CIFAR-10's md5s (as the ``tiny_cifar10`` fixture does in-process) and, after training,
saves each rank's parameters and one draw of its random stream, then calls ``igan.training.cli.main``.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest
import torch
from conftest import REPO, write_tiny_cifar10

RUNNER = '''
import hashlib, os, sys
from pathlib import Path

import torch
from torchvision.datasets import CIFAR10

folder = Path(os.environ["TINY_CIFAR_ROOT"]) / CIFAR10.base_folder
out = Path(os.environ["DDP_RANK_OUT"])

def md5(name):
    return hashlib.md5((folder / name).read_bytes()).hexdigest()

CIFAR10.train_list = [[f"data_batch_{i}", md5(f"data_batch_{i}")] for i in range(1, 6)]
CIFAR10.test_list = [["test_batch", md5("test_batch")]]
CIFAR10.meta = dict(CIFAR10.meta, md5=md5("batches.meta"))

from igan.training.cli import main
from igan.gan import GAN

if os.environ.get("LOCAL_RANK") == "1":
    # Rank 1's clock says 29 of the 30 minutes are spent; the rates must follow rank 0's clock.
    from lightning.pytorch.callbacks import Timer

    Timer.time_elapsed = lambda self, stage="train": 1740.0

def on_train_end(self):
    torch.save({
        "params": {k: v.detach().clone() for k, v in self.named_parameters()},
        "rng_draw": torch.rand(8),
        "world_size": self.trainer.world_size,
        "global_step": self.trainer.global_step,
        "d_updates": int(self.d_updates),
        "rates": [opt.param_groups[0]["lr"] for opt in self.trainer.optimizers],
        "base_rates": [self.hparams.lr_g, self.hparams.lr_d],
    }, out / f"rank{self.global_rank}.pt")

GAN.on_train_end = on_train_end

import igan.metrics.callback as metrics_callback

gather = metrics_callback.gather_features

def gather_and_save(trainer, mine, num_samples):
    """The evaluation's features, as each rank embedded them and as all ranks gathered them."""
    every = gather(trainer, mine, num_samples)
    torch.save({"mine": mine.pool, "gathered": every.pool}, out / f"features{trainer.global_rank}.pt")
    return every

metrics_callback.gather_features = gather_and_save
sys.exit(main(sys.argv[1:]))
'''

RUN = "cifar10-idcgan-s0"


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    """IDCGAN (WGAN-GP: double backward through D) at width 8, 2 batches of 8 per process, 2 processes,
    FID/KID on 9 samples (real Inception) before and after the epoch, the rates decaying."""
    tmp = tmp_path_factory.mktemp("ddp")
    write_tiny_cifar10(tmp / "cifar")
    (tmp / "ranks").mkdir()
    runner = tmp / "runner.py"
    runner.write_text(RUNNER)
    cmd = [sys.executable, str(runner), "--config", str(REPO / "configs" / "cifar10_idcgan.yaml"),
           "--model.generator.init_args.width=8", "--model.discriminator.init_args.width=8",
           "--trainer.max_epochs=1", "--trainer.limit_train_batches=2", "--data.batch_size=8",
           "--data.num_workers=0", "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
           "--metrics.num_samples=9", "--metrics.batch_size=4", f"--data.root={tmp / 'cifar'}",
           f"--trainer.default_root_dir={tmp / 'runs'}", f"--samples_root={tmp / 'samples'}",
           "--trainer.accelerator=cpu", "--trainer.devices=2", "--trainer.strategy=ddp",
           # lr_decay under a time budget: every step broadcasts rank 0's share of the clock.
           "--model.lr_decay=1.0", "--trainer.max_time=00:00:30:00"]
    env = {**os.environ, "WANDB_MODE": "offline", "TINY_CIFAR_ROOT": str(tmp / "cifar"),
           "DDP_RANK_OUT": str(tmp / "ranks"), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=240)
    return tmp, result


def test_two_process_ddp_trains_in_sync_and_writes_once(ddp_run):
    tmp, result = ddp_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "All distributed processes registered. Starting with 2 processes" in result.stdout + result.stderr

    ranks = [torch.load(tmp / "ranks" / f"rank{r}.pt") for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    # 2 batches per process: 2 G updates (global_step) and 2 D updates on each rank.
    assert [(r["global_step"], r["d_updates"]) for r in ranks] == [(2, 2), (2, 2)]
    # DDP averages the gradients, so both ranks hold the very same G and D after every update.
    params0, params1 = ranks[0]["params"], ranks[1]["params"]
    assert params0.keys() == params1.keys() and any(k.startswith("generator.") for k in params0)
    for name in params0:
        assert torch.equal(params0[name], params1[name]), name
    # ...while each rank draws its own noise (else N devices would see N copies of every fake).
    assert not torch.equal(ranks[0]["rng_draw"], ranks[1]["rng_draw"])
    # model.lr_decay: the second of the epoch's 2 steps ran at half the rates on both ranks: the
    # epoch share, 1/2, outweighs rank 0's share of the 30 minutes, which it broadcast to rank 1
    # (whose own clock, 29 minutes, would have set a thirtieth).
    for rank in ranks:
        assert rank["rates"] == pytest.approx([0.5 * r for r in rank["base_rates"]])

    # Rank 0 alone writes: the grids, one checkpoint holding the common weights, one W&B run,
    # and one metrics.csv row per epoch (a second writer would append its own rows).
    samples = tmp / "samples" / RUN
    assert sorted(p.name for p in samples.iterdir()) == [
        "epoch_000.png", "epoch_001.png", "kernels_epoch_000.png", "kernels_epoch_001.png"]
    checkpoints = tmp / "runs" / RUN / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["best-fid.ckpt", "last.ckpt"]
    state = torch.load(checkpoints / "last.ckpt", weights_only=True)["state_dict"]
    for name, value in params0.items():
        assert torch.equal(state[name], value), name
    assert len(list((tmp / "runs" / "wandb").glob("offline-run-*"))) == 1
    with open(tmp / "runs" / RUN / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["epoch"] for row in rows] == ["0", "1"]
    assert all(float(row["fid"]) > 0 and row["kid"] for row in rows)


def test_metrics_use_every_ranks_samples(ddp_run):
    """Each rank embeds its share (5 and 4 of 9); gathered, they are exactly the features one
    process computes from the final checkpoint's generator, in the same order."""
    from igan.metrics.callback import Metrics
    from igan.metrics.inception import load_inception
    from igan.sampling import load_generator

    tmp, result = ddp_run
    assert result.returncode == 0, result.stderr[-3000:]
    features = [torch.load(tmp / "ranks" / f"features{r}.pt") for r in (0, 1)]
    assert [len(f["mine"]) for f in features] == [5, 4]
    torch.testing.assert_close(features[0]["gathered"], features[1]["gathered"])

    generator = load_generator(tmp / "runs" / RUN / "checkpoints" / "last.ckpt")
    extractor = load_inception(chunk_size=9)
    single = Metrics(num_samples=9, batch_size=9).fake_features(SampleFrom(generator), extractor)
    torch.testing.assert_close(features[0]["gathered"], single.pool, atol=1e-4, rtol=1e-4)


class SampleFrom:
    """What Metrics.fake_features needs of a GAN module, around a bare generator (eval mode)."""

    def __init__(self, generator) -> None:
        self.generator, self.latent_dim, self.device = generator.eval(), generator.latent_dim, torch.device("cpu")

    @torch.no_grad()
    def sample(self, z):
        return self.generator(z)


def test_every_rank_exits_cleanly(ddp_run):
    """Rank 1 has no W&B run or folder of its own; nothing after training may assume it has."""
    _, result = ddp_run
    assert "Traceback" not in result.stdout + result.stderr, result.stderr[-3000:]
    assert (result.stdout + result.stderr).count(f"Run '{RUN}' finished") == 1  # the summary, from rank 0


def test_the_module_asks_ddp_for_unused_parameter_detection():
    import lightning as L
    from lightning.pytorch.strategies import DDPStrategy

    from igan.errors import IganError
    from igan.gan import GAN
    from igan.models import DCGANDiscriminator, DCGANGenerator

    def module_on(strategy):
        gan = GAN(DCGANGenerator(16, 1, latent_dim=8, width=4), DCGANDiscriminator(16, 1, width=4))
        gan.trainer = L.Trainer(accelerator="cpu", devices=1, strategy=strategy, logger=False)
        return gan

    gan = module_on("ddp")  # what --trainer.strategy=ddp gives
    gan.setup("fit")
    assert gan.trainer.strategy._ddp_kwargs["find_unused_parameters"] is True
    with pytest.raises(IganError, match="find_unused_parameters"):
        module_on(DDPStrategy(find_unused_parameters=False)).setup("fit")
