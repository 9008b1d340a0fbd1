"""GeneratorEMA: parameters averaged by the EMA recursion, buffers kept consistent with the average."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _SpectralNorm

from igan.gan.ema import GeneratorEMA
from igan.models import DCGANGenerator, SAGANGenerator

DECAY = 0.9


def sn_bn_generator(seed: int = 0) -> nn.Module:
    """A tiny generator with spectral norm, BatchNorm and self-attention (a parameter outside convs)."""
    torch.manual_seed(seed)
    return SAGANGenerator(image_size=16, channels=1, latent_dim=8, width=4, attention_resolutions=[8])


def train_like_step(generator: nn.Module, step: int) -> None:
    """Move every parameter as a (large) training step would, then a training-mode forward, which
    updates the live network's own SN vectors and BatchNorm statistics."""
    gen = torch.Generator().manual_seed(100 + step)
    with torch.no_grad():
        for p in generator.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * (p.detach().abs().mean() + 0.05))
        generator.train()(torch.randn(16, generator.latent_dim, generator=gen))


def sn_layers(module: nn.Module):
    for name, m in module.named_modules():
        if parametrize.is_parametrized(m, "weight"):
            for p in m.parametrizations.weight:
                if isinstance(p, _SpectralNorm):
                    yield name, m, p


def test_parameters_follow_the_ema_recursion():
    live = sn_bn_generator()
    ema = GeneratorEMA(live, decay=DECAY)
    expected = {k: v.detach().clone() for k, v in live.named_parameters()}
    for step in range(3):
        train_like_step(live, step)
        ema.update(live)
        for k, w in live.named_parameters():
            expected[k] = DECAY * expected[k] + (1 - DECAY) * w.detach()
    assert int(ema.num_updates) == 3
    averaged = dict(ema.module.named_parameters())
    assert averaged.keys() == expected.keys()
    for k, v in expected.items():
        assert torch.allclose(averaged[k], v, rtol=1e-5, atol=1e-7), k
        assert not averaged[k].requires_grad
    assert not torch.allclose(averaged["net.0.parametrizations.weight.original"],
                              live.state_dict()["net.0.parametrizations.weight.original"])


def add_spike(weight: torch.Tensor, sn: _SpectralNorm, scale: float, seed: int) -> None:
    """Add ``scale`` times a fixed random rank-one matrix to ``weight`` (in SN's matrix layout)."""
    matrix = sn._reshape_weight_to_matrix(weight)
    gen = torch.Generator().manual_seed(seed)
    a, b = torch.randn(matrix.shape[0], generator=gen), torch.randn(matrix.shape[1], generator=gen)
    spike = torch.outer(a / a.norm(), b / b.norm()) * scale
    if sn.dim != 0:  # undo SN's permutation of ``dim`` to the front
        permuted = [weight.shape[sn.dim]] + [s for i, s in enumerate(weight.shape) if i != sn.dim]
        order = list(range(1, sn.dim + 1)) + [0] + list(range(sn.dim + 1, weight.dim()))
        spike = spike.reshape(permuted).permute(order)
    weight.add_(spike.reshape(weight.shape))


def test_spectral_norm_vectors_are_singular_vectors_of_the_averaged_weights():
    """Each update moves the averaged weights' top singular direction far from where the vectors
    were: the EMA's u, v must follow its own weights (not the live ones, not an average of
    unit vectors). The live generator's vectors are left stale on purpose, so they differ."""
    live = sn_bn_generator()
    ema = GeneratorEMA(live, decay=DECAY)
    layers = list(sn_layers(live))
    assert len(layers) == 7  # 3 convs + query, key, value and the output conv
    for step in range(3):
        with torch.no_grad():
            for i, (name, m, sn) in enumerate(layers):
                weight = m.parametrizations.weight.original
                true_sigma = torch.linalg.matrix_norm(sn._reshape_weight_to_matrix(weight), ord=2)
                add_spike(weight, sn, scale=20 * true_sigma.item() / (step + 1), seed=i)
        ema.update(live)
    live_u = {name: sn._u.clone() for name, _, sn in layers}
    for name, m, sn in sn_layers(ema.module):
        u, v = sn._u, sn._v
        assert abs(u.norm().item() - 1) < 1e-5, f"{name}: u is not a unit vector"
        assert abs(v.norm().item() - 1) < 1e-5, f"{name}: v is not a unit vector"
        assert u.numel() == 1 or not torch.allclose(u.abs(), live_u[name].abs(), atol=1e-2)
        w = sn._reshape_weight_to_matrix(m.parametrizations.weight.original.detach())
        sigma = torch.dot(u, torch.mv(w, v))
        true_sigma = torch.linalg.matrix_norm(w, ord=2)
        assert abs(sigma / true_sigma - 1) < 0.02, f"{name}: sigma {sigma:.4g} vs top singular value {true_sigma:.4g}"


def reference_standing_stats(module: nn.Module, batches: int, batch_size: int) -> dict[str, torch.Tensor]:
    """BatchNorm statistics as a cumulative average over the seeded noise batches, in train mode."""
    module = copy.deepcopy(module)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    rng = torch.Generator().manual_seed(0)
    with torch.no_grad():
        module.train()
        for _ in range(batches):
            module(torch.randn(batch_size, module.latent_dim, generator=rng))
    return {k: v for k, v in module.state_dict().items() if "running_" in k}


def running_stats(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items() if "running_" in k}


def test_batch_norm_statistics_are_re_estimated_for_the_averaged_weights():
    torch.manual_seed(0)
    live = DCGANGenerator(image_size=16, channels=1, latent_dim=8, width=4)
    ema = GeneratorEMA(live, decay=DECAY, stats_batches=3, stats_batch_size=16)
    for step in range(3):
        train_like_step(live, step)
        ema.update(live)
    expected = reference_standing_stats(ema.module, batches=3, batch_size=16)
    assert len(expected) == 4  # running mean and var of two BatchNorms
    net = ema.ready_module()
    assert net is ema.module
    got = running_stats(net)
    live_stats = running_stats(live)
    for k, v in expected.items():
        assert torch.isfinite(got[k]).all(), k
        assert torch.allclose(got[k], v, rtol=1e-5, atol=1e-6), k
        assert not torch.allclose(got[k], live_stats[k], rtol=1e-2), k
    # Statistics are estimated once per change of the weights: stale again only after an update.
    assert torch.equal(running_stats(ema.ready_module())["net.1.running_var"], got["net.1.running_var"])
    train_like_step(live, 3)
    ema.update(live)
    refreshed = running_stats(ema.ready_module())
    assert torch.allclose(refreshed["net.1.running_var"],
                          reference_standing_stats(ema.module, 3, 16)["net.1.running_var"], rtol=1e-5)
    assert not torch.allclose(refreshed["net.1.running_var"], got["net.1.running_var"])


def test_state_dict_holds_statistics_of_the_averaged_weights():
    torch.manual_seed(0)
    live = DCGANGenerator(image_size=16, channels=1, latent_dim=8, width=4)
    ema = GeneratorEMA(live, decay=DECAY, stats_batches=2, stats_batch_size=8)
    train_like_step(live, 0)
    ema.update(live)
    expected = reference_standing_stats(ema.module, batches=2, batch_size=8)
    state = ema.state_dict()
    assert int(state["num_updates"]) == 1
    for k, v in expected.items():
        assert torch.allclose(state[f"module.{k}"], v, rtol=1e-5, atol=1e-6), k


def test_rampup_caps_the_half_life_at_a_share_of_the_updates():
    """StyleGAN2-ADA's rule: half-life <= rampup x updates, so decay_n = min(decay, 0.5 ** (1 / (rampup n)))."""
    live = sn_bn_generator()
    ema = GeneratorEMA(live, decay=0.999, rampup=0.05)
    expected = {k: v.detach().clone() for k, v in live.named_parameters()}
    decays = []
    for step in range(4):
        decays.append(ema.current_decay())
        train_like_step(live, step)
        ema.update(live)
        beta = min(0.999, 0.5 ** (1.0 / (0.05 * (step + 1))))
        for k, w in live.named_parameters():
            expected[k] = beta * expected[k] + (1 - beta) * w.detach()
    assert decays[0] == 0.5 ** 20 and decays[3] == 0.5 ** 5  # early updates nearly copy the live weights
    for k, v in dict(ema.module.named_parameters()).items():
        assert torch.allclose(v, expected[k], rtol=1e-5, atol=1e-7), k
    ema.num_updates.fill_(10**6)
    assert ema.current_decay() == 0.999  # late in a run the fixed decay rules
    assert GeneratorEMA(live, decay=0.9).current_decay() == 0.9


def test_rampup_must_be_positive():
    import pytest

    with pytest.raises(ValueError, match="ema_rampup must be > 0"):
        GeneratorEMA(sn_bn_generator(), decay=0.9, rampup=0.0)
