"""bf16 mixed precision (``--trainer.precision=bf16-mixed``) is numerically safe for every model.

Run through CPU autocast, and through CUDA autocast where a GPU exists: involution,
self-attention and the WGAN-GP penalty's double backward, two batches. The bf16 run must move the
networks the way the float32 run does: finite losses, and parameter updates pointing the same way
(cosine similarity of the update vectors) -- bf16 keeps ~3 significant digits, so the updates are
not equal, but a broken path (a penalty computed in bf16 overflowing, an op falling out of
autocast with a dtype error) fails this.
"""

from __future__ import annotations

import copy

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from igan.gan import GAN
from igan.models import (
    IDCGANDiscriminator,
    IDCGANGenerator,
    SAGANDiscriminator,
    SAGANGenerator,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*does not have many workers:UserWarning",
    "ignore:The number of training batches:UserWarning",
    "ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated",
)

SIZE, B = 16, 8


def nets(model: str):
    torch.manual_seed(0)
    if model == "idcgan":
        return (IDCGANGenerator(image_size=SIZE, channels=1, latent_dim=8, width=8, group_channels=4),
                IDCGANDiscriminator(image_size=SIZE, channels=1, width=8, group_channels=4, batch_norm=False,
                                    involution_norm=False))
    return (SAGANGenerator(image_size=SIZE, channels=1, latent_dim=8, width=8),
            SAGANDiscriminator(image_size=SIZE, channels=1, width=8))


def update(model: str, precision: str, accelerator: str = "cpu") -> tuple[torch.Tensor, list[float], set]:
    """The parameter update of two batches, the losses of each step, and the dtypes D's first
    convolution produced (bf16 proves autocast ran: on a GPU two float32 runs differ too)."""
    generator, discriminator = nets(model)
    gan = GAN(copy.deepcopy(generator), copy.deepcopy(discriminator), loss="wgan-gp", lr_g=1e-3, lr_d=1e-3,
              betas=(0.0, 0.9))
    dtypes = set()
    conv = next(m for m in gan.discriminator.modules() if isinstance(m, torch.nn.Conv2d))
    conv.register_forward_hook(lambda module, args, out: dtypes.add(out.dtype))
    before = torch.cat([p.detach().flatten().clone() for p in gan.parameters()])
    data = torch.rand(2 * B, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1)) * 2 - 1
    L.seed_everything(0, verbose=False)
    losses: list[float] = []

    class Losses(L.Callback):
        def on_train_batch_end(self, trainer, *args) -> None:
            losses.extend(float(v) for v in trainer.lightning_module.step_losses.values())

    trainer = L.Trainer(max_epochs=1, accelerator=accelerator, devices=1, precision=precision, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[Losses()])
    trainer.fit(gan, DataLoader(TensorDataset(data), batch_size=B))
    after = torch.cat([p.detach().flatten().cpu() for p in gan.parameters()])
    return after - before, losses, dtypes


@pytest.mark.parametrize("accelerator", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
@pytest.mark.parametrize("model", ["idcgan", "sagan"])
def test_bf16_mixed_moves_the_networks_like_float32(model, accelerator):
    step32, losses32, dtypes32 = update(model, "32-true", accelerator)
    step16, losses16, dtypes16 = update(model, "bf16-mixed", accelerator)
    assert dtypes32 == {torch.float32} and dtypes16 == {torch.bfloat16}  # autocast really ran in bf16
    assert losses16 and all(torch.isfinite(torch.tensor(losses16)))
    assert step16.abs().sum() > 0 and not torch.equal(step16, step32)
    cosine = torch.nn.functional.cosine_similarity(step16, step32, dim=0)
    assert cosine > 0.9, f"bf16 updates point elsewhere than float32's (cosine {cosine:.3f})"
