"""``--model.compile`` and ``--model.channels_last`` train the same networks as the plain path.

Two batches through a real Trainer from the same initial networks, data and seed: parameters after
each path agree with the plain run's up to float rounding, the state_dict keys are unchanged (so
checkpoints and sample.py do not care), and the fast path is really taken.
"""

from __future__ import annotations

import copy

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from igan.gan import GAN
from igan.models import IDCGANDiscriminator, IDCGANGenerator

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*does not have many workers:UserWarning",
    "ignore:The number of training batches:UserWarning",
    "ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated",
)

SIZE, B = 16, 4


def nets():
    torch.manual_seed(0)
    # Involution and spectral norm in both networks, WGAN-GP: the penalty's double backward must
    # bypass the compiled graph.
    generator = IDCGANGenerator(image_size=SIZE, channels=1, latent_dim=8, width=8, group_channels=4)
    discriminator = IDCGANDiscriminator(image_size=SIZE, channels=1, width=8, group_channels=4, batch_norm=False,
                                        involution_norm=False)
    return generator, discriminator


def train(**fast) -> GAN:
    generator, discriminator = nets()
    gan = GAN(copy.deepcopy(generator), copy.deepcopy(discriminator), loss="wgan-gp", lr_g=1e-3, lr_d=1e-3,
              betas=(0.0, 0.9), **fast)
    data = torch.rand(2 * B, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1)) * 2 - 1
    L.seed_everything(0, verbose=False)
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(gan, DataLoader(TensorDataset(data), batch_size=B))
    return gan


@pytest.fixture(scope="module")
def plain() -> GAN:
    return train()


def assert_same_training(gan: GAN, plain: GAN) -> None:
    state, reference = gan.state_dict(), plain.state_dict()
    assert state.keys() == reference.keys()
    moved = 0
    for name, value in reference.items():
        torch.testing.assert_close(state[name], value, rtol=1e-4, atol=1e-5, msg=name)
        moved += value.is_floating_point()
    assert moved > 0 and int(gan.d_updates) == 2


def test_channels_last_trains_the_same_networks_in_nhwc(plain):
    gan = train(channels_last=True)
    assert_same_training(gan, plain)
    conv = next(m for m in gan.generator.modules() if isinstance(m, torch.nn.ConvTranspose2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()


def test_compiled_networks_train_the_same_and_the_penalty_bypasses_them(plain):
    from torch._dynamo.utils import counters

    counters.clear()
    gan = train(compile=True)
    assert counters["frames"]["ok"] > 0  # the training step really ran compiled graphs
    assert_same_training(gan, plain)
    compiled = gan._compiled
    assert all(type(net).__name__ == "OptimizedModule" for net in compiled.values())
    assert compiled["discriminator"]._orig_mod is gan.discriminator  # a view: parameters shared
    assert not any(name.startswith("_compiled") or "_orig_mod" in name for name in gan.state_dict())
