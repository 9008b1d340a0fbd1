"""IDCGAN networks: shapes, involution placement and options, gradient penalty through them."""

import pytest
import torch
from torch import nn

from igan.gan.losses import gradient_penalty
from igan.models import IDCGANDiscriminator, IDCGANGenerator
from igan.ops import Involution2d


def involutions(net: nn.Module) -> list[Involution2d]:
    return [m for m in net.modules() if isinstance(m, Involution2d)]


@pytest.mark.parametrize("replace", [False, True])
@pytest.mark.parametrize("image_size", [32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes(image_size, channels, replace):
    g = IDCGANGenerator(image_size, channels, latent_dim=16, width=8, replace=replace)
    d = IDCGANDiscriminator(image_size, channels, width=8, replace=replace)
    x = g(torch.randn(3, 16))
    assert x.shape == (3, channels, image_size, image_size)
    assert d(x).shape == (3,)


@pytest.mark.parametrize("image_size, side", [(32, 16), (64, 32)])
def test_one_involution_at_half_the_image_side_by_default(image_size, side):
    g = IDCGANGenerator(image_size, 3, latent_dim=16, width=16)
    d = IDCGANDiscriminator(image_size, 3, width=16)
    for net, x in ((g, torch.randn(2, 16)), (d, torch.randn(2, 3, image_size, image_size))):
        sides = []
        for m in involutions(net):
            m.register_forward_hook(lambda m, i, o: sides.append(i[0].shape[-1]))
        net(x)
        assert sides == [side]


def test_involution_options_reach_the_layer():
    g = IDCGANGenerator(64, 1, latent_dim=16, width=64, kernel_size=5, group_channels=16,
                        reduction_ratio=2, involution_resolutions=[16, 32])
    layers = involutions(g)
    assert [m.channels for m in layers] == [128, 64]
    assert all(m.kernel_size == 5 and m.group_channels == 16 for m in layers)
    assert layers[1].reduce.out_channels == 32 and layers[1].groups == 4


def test_replace_mode_swaps_every_hidden_stride2_conv():
    g = IDCGANGenerator(64, 1, latent_dim=16, width=8, replace=True)  # no extra layer by default
    d = IDCGANDiscriminator(64, 1, width=8, replace=True)
    assert len(involutions(g)) == 3 and len(involutions(d)) == 3
    assert [m.stride for m in involutions(d)] == [2, 2, 2]
    # Only the first (from z) and the last (to the image) transposed convs remain in G.
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in g.modules()) == 2


def test_critic_without_batchnorm_has_none_anywhere():
    d = IDCGANDiscriminator(32, 3, width=16, batch_norm=False, involution_norm=False)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in d.modules())


def test_involution_keeps_its_own_init_while_the_backbone_gets_dcgan_init():
    g = IDCGANGenerator(64, 1, latent_dim=16, width=64)
    span = involutions(g)[0].span.weight
    assert span.std().item() > 0.05  # PyTorch's default, not N(0, 0.02)
    assert abs(g.net[0].weight.std().item() - 0.02) < 0.003


@pytest.mark.parametrize("net", ["generator", "discriminator"])
@pytest.mark.parametrize("replace", [False, True])
def test_every_parameter_gets_a_gradient(net, replace):
    """DDP without find_unused_parameters needs this."""
    g = IDCGANGenerator(32, 3, latent_dim=16, width=16, replace=replace, spectral_norm=True)
    d = IDCGANDiscriminator(32, 3, width=16, replace=replace, spectral_norm=True)
    d(g(torch.randn(4, 16))).sum().backward()
    module = g if net == "generator" else d
    missing = [n for n, p in module.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_gradient_penalty_backpropagates_through_involution():
    torch.manual_seed(0)
    d = IDCGANDiscriminator(32, 3, width=16, batch_norm=False, involution_norm=False, spectral_norm=True)
    real, fake = torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32)
    gp = gradient_penalty(d, real, fake)
    gp.backward()
    layer = involutions(d)[0]
    assert gp.item() > 0
    assert layer.span.weight.grad is not None and layer.span.weight.grad.abs().sum() > 0


def test_kernel_spectral_norm_is_an_option_of_the_involution_branch():
    """Off by default (public InvolutionGAN code); on, the ablation matches attention's SN projections."""
    from torch.nn.utils import parametrize

    for kernel_sn in (False, True):
        for net in (IDCGANGenerator(32, 1, width=16, spectral_norm=True, kernel_spectral_norm=kernel_sn),
                    IDCGANDiscriminator(32, 1, width=16, spectral_norm=True, batch_norm=False, involution_norm=False,
                                        kernel_spectral_norm=kernel_sn)):
            (layer,) = [m for m in net.modules() if isinstance(m, Involution2d)]
            assert parametrize.is_parametrized(layer.reduce, "weight") == kernel_sn
            assert parametrize.is_parametrized(layer.span, "weight") == kernel_sn
