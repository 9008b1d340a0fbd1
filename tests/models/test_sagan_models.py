"""SAGAN networks: shapes, spectral norm everywhere, attention placement and zero gain."""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from igan.models import SAGANDiscriminator, SAGANGenerator
from igan.models.blocks import SelfAttention2d


@pytest.mark.parametrize("image_size", [32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes(image_size, channels):
    g = SAGANGenerator(image_size, channels, latent_dim=16, width=8)
    d = SAGANDiscriminator(image_size, channels, width=8)
    x = g(torch.randn(3, 16))
    assert x.shape == (3, channels, image_size, image_size)
    assert d(x).shape == (3,)


def _attention_input_sides(net: nn.Module, x: torch.Tensor) -> list[int]:
    sides = []
    hooks = [m.register_forward_hook(lambda m, i, o: sides.append(i[0].shape[-1]))
             for m in net.modules() if isinstance(m, SelfAttention2d)]
    net(x)
    for h in hooks:
        h.remove()
    return sides


@pytest.mark.parametrize("image_size, side", [(32, 16), (64, 32)])
def test_attention_sits_at_half_the_image_side_in_g_and_d(image_size, side):
    g = SAGANGenerator(image_size, 3, latent_dim=16, width=8)
    d = SAGANDiscriminator(image_size, 3, width=8)
    assert _attention_input_sides(g, torch.randn(2, 16)) == [side]
    assert _attention_input_sides(d, torch.randn(2, 3, image_size, image_size)) == [side]


def test_spectral_norm_on_every_conv_and_no_batchnorm_in_d():
    g, d = SAGANGenerator(32, 3, width=8), SAGANDiscriminator(32, 3, width=8)
    for net in (g, d):
        convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        assert convs and all(hasattr(m, "parametrizations") for m in convs)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in g.modules())


def test_attention_gain_starts_at_zero_so_the_block_is_the_identity():
    block = SelfAttention2d(16)
    assert block.gamma.item() == 0.0
    x = torch.randn(2, 16, 8, 8)
    assert torch.equal(block(x), x)
    block.gamma.data.fill_(1.0)
    assert not torch.allclose(block(x), x)


def test_attention_matches_the_official_sagan_block():
    """brain-research/self-attention-gan's sn_non_local_block_sim: keys and values max-pooled 2x2,
    values at C/2, an output conv back to C, unscaled softmax."""
    torch.manual_seed(0)
    block = SelfAttention2d(16, spectral_norm=False)
    block.gamma.data.fill_(0.5)
    x = torch.randn(2, 16, 4, 6)
    q = block.query(x).flatten(2)  # (B, 2, 24)
    k = nn.functional.max_pool2d(block.key(x), 2).flatten(2)  # (B, 2, 6): one key per 2x2 window
    v = nn.functional.max_pool2d(block.value(x), 2).flatten(2)  # (B, 8, 6)
    assert (q.shape[1], v.shape[1], k.shape[2]) == (2, 8, 6)
    beta = torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # (B, 24, 6): position i attends over windows j
    expected = x + 0.5 * block.out((v @ beta.transpose(1, 2)).view(2, 8, 4, 6))
    torch.testing.assert_close(block(x), expected)


def test_full_width_variant_matches_heykeetaes_formula():
    """pool=1, value_ratio=1: every position attended, full-width values added without an output conv."""
    torch.manual_seed(0)
    block = SelfAttention2d(16, spectral_norm=False, value_ratio=1, pool=1)
    assert block.out is None
    block.gamma.data.fill_(0.5)
    x = torch.randn(2, 16, 4, 5)
    q, k, v = (conv(x).flatten(2) for conv in (block.query, block.key, block.value))  # (B, c, N)
    beta = torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # (B, N, N): row i attends over j
    expected = x + 0.5 * (v @ beta.transpose(1, 2)).view_as(x)
    torch.testing.assert_close(block(x), expected)


def test_pooled_attention_takes_odd_sides_and_networks_pass_the_variant_down():
    torch.manual_seed(0)
    block = SelfAttention2d(16, spectral_norm=False)
    block.gamma.data.fill_(1.0)
    x = torch.randn(2, 16, 5, 5)
    # Odd sides: a last, partial window (ceil mode) gives 3x3 keys; its maximum is over what is there.
    k = nn.functional.pad(block.key(x), (0, 1, 0, 1), value=-float("inf")).unflatten(3, (3, 2)).unflatten(2, (3, 2))
    k = k.amax(dim=(3, 5)).flatten(2)  # (B, 2, 9)
    v = nn.functional.max_pool2d(block.value(x), 2, ceil_mode=True).flatten(2)
    beta = torch.softmax(block.query(x).flatten(2).transpose(1, 2) @ k, dim=-1)
    torch.testing.assert_close(block(x), x + block.out((v @ beta.transpose(1, 2)).view(2, 8, 5, 5)))
    assert block(torch.randn(2, 16, 1, 1)).shape == (2, 16, 1, 1)
    with pytest.raises(ValueError, match="pool"):
        SelfAttention2d(16, pool=0)
    for net in (SAGANGenerator(32, 1, width=8, attention_pool=1, attention_value_ratio=1),
                SAGANDiscriminator(32, 1, width=8, attention_pool=1, attention_value_ratio=1)):
        (attention,) = [m for m in net.modules() if isinstance(m, SelfAttention2d)]
        assert attention.pool == 1 and attention.out is None
        assert net.init_args["attention_pool"] == 1  # recorded in checkpoints' specs
    for net in (SAGANGenerator(32, 1, width=8, attention_pool=1, attention_value_ratio=2),  # each to its place
                SAGANDiscriminator(32, 1, width=8, attention_pool=1, attention_value_ratio=2)):
        (attention,) = [m for m in net.modules() if isinstance(m, SelfAttention2d)]
        assert attention.pool == 1 and attention.value.out_channels == attention.out.out_channels // 2


def test_custom_attention_resolutions():
    g = SAGANGenerator(64, 1, latent_dim=16, width=8, attention_resolutions=[16, 32])
    assert _attention_input_sides(g, torch.randn(2, 16)) == [16, 32]
    with pytest.raises(ValueError, match="resolution"):
        SAGANGenerator(64, 1, width=8, attention_resolutions=[5])
    assert _attention_input_sides(SAGANGenerator(64, 1, latent_dim=16, width=8, attention_resolutions=[]),
                                  torch.randn(2, 16)) == []


def test_r1_penalty_backpropagates_through_attention():
    """Gradient penalties differentiate D twice; inside D's double_backward hook the attention supports
    it (SDPA's fused kernels, used everywhere else, have no double backward)."""
    from igan.gan.losses import r1_penalty
    from igan.models.base import double_backward

    d = SAGANDiscriminator(32, 3, width=16)
    d.net[2].gamma.data.fill_(1.0)  # the attention block right after the first conv
    real = torch.randn(4, 3, 32, 32, requires_grad=True)
    with double_backward(d):
        penalty = r1_penalty(d(real), real)
    penalty.backward()
    assert penalty.item() > 0 and d.net[2].query.parametrizations.weight.original.grad.abs().sum() > 0


# The attention's two paths: fused SDPA kernels by default, igan.ops.attention for gradient penalties.

def _attention_ops(fn) -> set[str]:
    """Names of the scaled-dot-product-attention kernels ``fn`` runs (forward and backward)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return {e.key for e in prof.key_averages() if "scaled_dot_product" in e.key or "attention" in e.key.lower()}


MATH_OP = "aten::_scaled_dot_product_attention_math"
SECOND_DERIVATIVE_OP = "_AttentionBackwardBackward"  # igan.ops.attention's sliced second derivative


@pytest.mark.parametrize("channels, side", [(16, 8), (64, 16)])
def test_fused_and_double_backward_paths_compute_the_same_attention(channels, side):
    from igan.models.blocks import double_backward_attention

    torch.manual_seed(0)
    block = SelfAttention2d(channels)
    block.gamma.data.fill_(0.7)
    x = torch.randn(3, channels, side, side, requires_grad=True)
    weights = [block.gamma, *(conv.parametrizations.weight.original for conv in (block.query, block.value, block.out))]
    block.eval()  # no power iteration: both paths see the same spectrally normalised weights
    fast = block(x)
    fast_grads = torch.autograd.grad(fast.square().sum(), [x, *weights])
    with double_backward_attention():
        math = block(x)
    math_grads = torch.autograd.grad(math.square().sum(), [x, *weights])
    torch.testing.assert_close(fast, math, rtol=1e-5, atol=1e-5)
    for a, b in zip(fast_grads, math_grads):  # sums over many positions: tolerance relative to their size
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * b.abs().max().item())


def takes_double_backward_path() -> bool:
    """Whether a :class:`SelfAttention2d` forward run now takes the twice-differentiable path."""
    from igan.models import blocks

    calls = []
    original = blocks.twice_differentiable_attention
    blocks.twice_differentiable_attention = lambda *args, **kwargs: calls.append(1) or original(*args, **kwargs)
    try:
        with torch.no_grad():
            SelfAttention2d(8)(torch.randn(1, 8, 4, 4))
    finally:
        blocks.twice_differentiable_attention = original
    return bool(calls)


def test_only_the_penalty_path_runs_the_twice_differentiable_attention(monkeypatch):
    from igan.gan.losses import gradient_penalty, hinge_loss_dis
    from igan.models.base import double_backward
    from igan.ops import attention

    monkeypatch.setitem(attention.MATH_PATH_MAX_BYTES, "cpu", 0)  # the sliced path at this small size too

    d = SAGANDiscriminator(32, 1, width=16)
    d.net[2].gamma.data.fill_(1.0)
    real, fake = torch.randn(4, 1, 32, 32), torch.randn(4, 1, 32, 32)

    def plain_step():  # a hinge D step without penalty: one backward
        hinge_loss_dis(d(real), d(fake)).backward()

    def penalty_step():  # WGAN-GP as igan.gan.GAN computes it: a double backward
        with double_backward(d):
            assert takes_double_backward_path()
            gp = gradient_penalty(d, real, fake)
        gp.backward()

    def sampling():
        with torch.no_grad():
            d(fake)

    assert SECOND_DERIVATIVE_OP not in _attention_ops(plain_step)
    assert SECOND_DERIVATIVE_OP not in _attention_ops(sampling)
    penalty_ops = _attention_ops(penalty_step)
    assert SECOND_DERIVATIVE_OP in penalty_ops and MATH_OP not in penalty_ops
    assert not takes_double_backward_path()  # restored on exit


def test_double_backward_hook_is_declared_by_the_block_scoped_nested_and_per_thread():
    """D's hook enters the path its attention declares; a network without such a block is left
    alone; the path is restored on exit (an exception too), a nested ``enabled=False`` keeps the
    enclosing one, and another thread does not see it."""
    import threading

    from igan.models import DCGANDiscriminator
    from igan.models.base import double_backward

    d = SAGANDiscriminator(16, 1, width=8)
    with double_backward(DCGANDiscriminator(16, 1, width=8)):  # no block with a path of its own
        assert not takes_double_backward_path()
    with double_backward(d, enabled=False):
        assert not takes_double_backward_path()
    seen_by_other_thread = []
    with double_backward(d):
        with double_backward(d, enabled=False):
            assert takes_double_backward_path()
        thread = threading.Thread(target=lambda: seen_by_other_thread.append(takes_double_backward_path()))
        thread.start()
        thread.join()
    assert seen_by_other_thread == [False]
    assert not takes_double_backward_path()
    with pytest.raises(RuntimeError):
        with double_backward(d):
            raise RuntimeError
    assert not takes_double_backward_path()


@pytest.mark.parametrize("penalty", ["r1", "wgan-gp"])
def test_a_gan_step_with_a_penalty_trains_a_sagan_discriminator(penalty):
    """igan.gan.GAN enters the double-backward path around its penalties (fused kernels have none)."""
    import lightning as L

    from igan.gan import GAN

    torch.manual_seed(0)
    g = SAGANGenerator(16, 1, latent_dim=8, width=4, batch_norm=False)
    d = SAGANDiscriminator(16, 1, width=8)
    d.net[2].gamma.data.fill_(1.0)
    before = d.net[2].query.parametrizations.weight.original.detach().clone()
    kwargs = {"loss": "wgan-gp"} if penalty == "wgan-gp" else {"loss": "hinge", "r1_gamma": 1.0}
    module = GAN(generator=g, discriminator=d, **kwargs)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, train_dataloaders=DataLoader(TensorDataset(torch.rand(4, 1, 16, 16) * 2 - 1), batch_size=4))
    assert penalty.replace("wgan-", "") in module.epoch_means()
    assert not torch.equal(before, d.net[2].query.parametrizations.weight.original)


def test_checkpoints_of_the_full_width_block_still_build_load_and_resume():
    """Specs saved before the pooled block became the default lack its two arguments: they were
    built with the full-width block, and rebuild (and resume) as that, not as today's default."""
    from igan.errors import IganError
    from igan.models.spec import build_from_spec, build_saved, spec_of
    from igan.training.checkpoints import check_resumable

    old = SAGANGenerator(32, 1, latent_dim=8, width=8, attention_pool=1, attention_value_ratio=1).eval()
    old.net[-3].gamma.data.fill_(0.8)  # the attention after the 16x16 stage: not the identity
    assert isinstance(old.net[-3], SelfAttention2d)
    saved = spec_of(old)
    for key in ("attention_pool", "attention_value_ratio"):
        del saved["init_args"][key]
    clone = build_saved(saved).eval()
    clone.load_state_dict(old.state_dict())
    z = torch.randn(2, 8)
    assert torch.equal(clone(z), old(z))
    assert build_from_spec(saved).net[-3].pool == 2  # a hand-written spec gets today's default
    assert build_saved(spec_of(SAGANGenerator(32, 1, width=8))).net[-3].pool == 2  # saved values win

    d = SAGANDiscriminator(32, 1, width=8, attention_pool=1, attention_value_ratio=1)
    saved_d = spec_of(d)
    del saved_d["init_args"]["attention_pool"], saved_d["init_args"]["attention_value_ratio"]
    ckpt = {"hyper_parameters": {"generator": saved, "discriminator": saved_d}, "state_dict": {}, "loops": {}}
    check_resumable(ckpt, "last.ckpt", spec_of(old), spec_of(d), {})  # the same networks: accepted
    # Today's default block is refused, naming the overrides that rebuild the checkpoint's networks.
    with pytest.raises(IganError, match=r"plus --model.generator.init_args.attention_pool=1 .*"
                                        r"--model.discriminator.init_args.attention_value_ratio=1"):
        check_resumable(ckpt, "last.ckpt", spec_of(SAGANGenerator(32, 1, latent_dim=8, width=8)), spec_of(d), {})


def test_an_old_cli_checkpoint_loads_samples_and_resumes(tmp_path, calligraphy_root, capsys):
    """A checkpoint written by train_gan.py with the full-width block, its specs made as old ones
    were (no attention_pool / attention_value_ratio): GAN.load_from_checkpoint (which builds the
    networks through LightningCLI's instantiator), sample.py's loader and --ckpt_path all rebuild
    the full-width block."""
    from conftest import REPO, TEST_CHARS

    from igan.gan import GAN
    from igan.sampling import load_generator
    from igan.training.cli import main

    full_width = [f"--model.{role}.init_args.{key}=1" for role in ("generator", "discriminator")
                  for key in ("attention_pool", "attention_value_ratio")]
    base = ["--config", str(REPO / "configs" / "published" / "calligraphy_sagan.yaml"), "--data.image_size=16",
            "--model.generator.init_args.width=4", "--model.discriminator.init_args.width=4",
            "--trainer.limit_train_batches=2", "--data.batch_size=4", "--data.num_workers=0",
            f"--data.root={calligraphy_root}", f"--data.chars={TEST_CHARS}", "--run_name=old",
            "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
            "--metrics.every_n_epochs=0", "--samples.num=4", f"--trainer.default_root_dir={tmp_path / 'runs'}",
            f"--samples_root={tmp_path / 'samples'}"]
    assert main([*base, *full_width, "--trainer.max_epochs=1"]) == 0
    path = tmp_path / "runs" / "old" / "checkpoints" / "last.ckpt"
    ckpt = torch.load(path, weights_only=True)
    for role in ("generator", "discriminator"):
        for key in ("attention_pool", "attention_value_ratio"):
            del ckpt["hyper_parameters"][role]["init_args"][key]
    torch.save(ckpt, path)

    module = GAN.load_from_checkpoint(path)
    assert [m.pool for m in module.modules() if isinstance(m, SelfAttention2d)] == [1, 1]
    assert load_generator(path).net[-3].out is None
    capsys.readouterr()
    assert main([*base, "--trainer.max_epochs=2", f"--ckpt_path={path}"]) == 2  # today's default: refused
    assert "attention_pool=1" in capsys.readouterr().err
    assert main([*base, *full_width, "--trainer.max_epochs=2", f"--ckpt_path={path}"]) == 0


@pytest.mark.parametrize("config", ["calligraphy_sagan", "cifar10_sagan", "ablation/calligraphy_attention",
                                    "ablation/cifar10_attention"])
def test_shipped_attention_configs_build_the_official_block(config):
    import yaml
    from conftest import REPO

    from igan.models.spec import build_from_spec

    model = yaml.safe_load((REPO / "configs" / f"{config}.yaml").read_text())["model"]
    for role in ("generator", "discriminator"):
        spec = {"class_path": model[role]["class_path"], "init_args": {**model[role]["init_args"], "image_size": 32}}
        blocks = [m for m in build_from_spec(spec).modules() if isinstance(m, SelfAttention2d)]
        assert blocks and all(b.pool == 2 and b.out is not None and b.value.out_channels == b.out.in_channels
                              == b.out.out_channels // 2 for b in blocks)
