"""igan.models.summary: parameter counts and FLOPs against hand-computed values."""

import torch
from torch import nn

from igan.models.summary import count_parameters, flops_and_output
from igan.ops import Involution2d


def flops_per_sample(net: nn.Module, example: torch.Tensor) -> int:
    return flops_and_output(net, example)[0]


def test_conv_flops_are_two_per_multiply_add():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    assert flops_per_sample(conv, torch.zeros(1, 3, 8, 8)) == 2 * 8 * 3 * 9 * 64
    assert count_parameters(conv) == 8 * 3 * 9 + 8


def test_involution_flops_add_the_multiply_add_to_its_kernel_convs():
    layer = Involution2d(16, kernel_size=3, group_channels=16, reduction_ratio=4, norm=None)
    involution = 2 * 16 * 9 * 64  # C * K*K multiply-adds per output pixel
    reduce, span = 2 * 16 * 4 * 64, 2 * 4 * 9 * 64  # 1x1 convs C -> C/r -> K*K*G
    assert flops_per_sample(layer, torch.zeros(1, 16, 8, 8)) == involution + reduce + span


def test_flop_count_leaves_batchnorm_and_spectral_norm_state_alone():
    net = nn.Sequential(nn.utils.parametrizations.spectral_norm(nn.Conv2d(3, 4, 3)), nn.BatchNorm2d(4)).train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    flops_per_sample(net, torch.randn(1, 3, 8, 8))
    assert net.training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
