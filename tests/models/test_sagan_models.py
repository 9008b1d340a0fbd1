"""SAGAN networks: shapes, spectral norm everywhere, attention placement and zero gain."""

import pytest
import torch
from torch import nn

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


def test_attention_matches_the_sagan_formula():
    torch.manual_seed(0)
    block = SelfAttention2d(16, spectral_norm=False)
    block.gamma.data.fill_(0.5)
    x = torch.randn(2, 16, 4, 5)
    q, k, v = (conv(x).flatten(2) for conv in (block.query, block.key, block.value))  # (B, c, N)
    beta = torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # (B, N, N): row i attends over j
    expected = x + 0.5 * (v @ beta.transpose(1, 2)).view_as(x)
    torch.testing.assert_close(block(x), expected)


def test_custom_attention_resolutions():
    g = SAGANGenerator(64, 1, latent_dim=16, width=8, attention_resolutions=[16, 32])
    assert _attention_input_sides(g, torch.randn(2, 16)) == [16, 32]
    with pytest.raises(ValueError, match="resolution"):
        SAGANGenerator(64, 1, width=8, attention_resolutions=[5])
    assert _attention_input_sides(SAGANGenerator(64, 1, latent_dim=16, width=8, attention_resolutions=[]),
                                  torch.randn(2, 16)) == []


def test_r1_penalty_backpropagates_through_attention():
    """Gradient penalties differentiate D twice; the attention must support it."""
    from igan.losses import r1_penalty

    d = SAGANDiscriminator(32, 3, width=16)
    d.net[2].gamma.data.fill_(1.0)  # the attention block right after the first conv
    real = torch.randn(4, 3, 32, 32, requires_grad=True)
    penalty = r1_penalty(d(real), real)
    penalty.backward()
    assert penalty.item() > 0 and d.net[2].query.parametrizations.weight.original.grad.abs().sum() > 0
