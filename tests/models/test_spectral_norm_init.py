"""Spectrally normalised networks are usable in eval mode straight after construction.

``spectral_norm`` stores singular-vector estimates u, v when it is attached; DCGAN's
re-initialisation then replaces the weights, and an eval-mode forward (no power iteration)
divided by sigma = u^T W v of the *old* weights: near zero or negative, so a freshly built SN
generator gave saturated noise. The vectors must be refreshed after the re-initialisation.

The networks have the structure of the shipped configs (SAGAN, IDCGAN, DCGAN with spectral norm;
32x32 RGB and 64x64 grayscale) at a small width, so the test stays fast.
"""

from __future__ import annotations

import functools

import pytest
import torch
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _SpectralNorm

import igan.models.layers
from igan.models import (
    DCGANDiscriminator,
    DCGANGenerator,
    IDCGANDiscriminator,
    IDCGANGenerator,
    SAGANDiscriminator,
    SAGANGenerator,
)

WIDTH, LATENT = 8, 32
SHAPES = [(32, 3), (64, 1)]  # (image_size, channels) of the CIFAR-10 and calligraphy configs
INVOLUTION = dict(spectral_norm=True, kernel_size=3, group_channels=16, reduction_ratio=2, involution_norm=False)


def configs(size: int) -> dict:
    half = [size // 2]
    return {
        "G-sagan": (SAGANGenerator, dict(spectral_norm=True, batch_norm=True, attention_resolutions=half)),
        "G-idcgan": (IDCGANGenerator, dict(batch_norm=True, involution_resolutions=half, **INVOLUTION)),
        "G-idcgan-replace": (IDCGANGenerator, dict(batch_norm=True, replace=True, **INVOLUTION)),
        "G-dcgan-sn": (DCGANGenerator, dict(spectral_norm=True)),
        "D-sagan": (SAGANDiscriminator, dict(spectral_norm=True, batch_norm=False, attention_resolutions=half)),
        "D-idcgan": (IDCGANDiscriminator, dict(batch_norm=False, involution_resolutions=half, **INVOLUTION)),
        "D-idcgan-replace": (IDCGANDiscriminator, dict(batch_norm=False, replace=True, **INVOLUTION)),
        "D-dcgan-sn": (DCGANDiscriminator, dict(spectral_norm=True, batch_norm=False)),
    }


CASES = [(name, size, channels) for size, channels in SHAPES for name in configs(size)]


@functools.lru_cache(maxsize=None)
def built(name: str, size: int, channels: int) -> torch.nn.Module:
    """The network of a case, built once per session (eval-mode forwards leave it unchanged)."""
    return build(name, size, channels)


def build(name: str, size: int, channels: int, seed: int = 0) -> torch.nn.Module:
    cls, kwargs = configs(size)[name]
    if name.startswith("G-"):
        kwargs = dict(kwargs, latent_dim=LATENT)
    torch.manual_seed(seed)
    return cls(image_size=size, channels=channels, width=WIDTH, **kwargs).eval()


def sigma_ratios(net: torch.nn.Module) -> dict[str, float]:
    """Per SN layer: the sigma an eval-mode forward divides by, over the true top singular value."""
    ratios = {}
    for name, m in net.named_modules():
        if parametrize.is_parametrized(m, "weight"):
            for p in m.parametrizations.weight:
                if isinstance(p, _SpectralNorm):
                    w = p._reshape_weight_to_matrix(m.parametrizations.weight.original.detach())
                    sigma = torch.dot(p._u, torch.mv(w, p._v))
                    ratios[name] = (sigma / torch.linalg.matrix_norm(w, ord=2)).item()
    return ratios


def saturation(generator: torch.nn.Module) -> tuple[torch.Tensor, float]:
    with torch.no_grad():
        x = generator(torch.randn(8, LATENT, generator=torch.Generator().manual_seed(1)))
    return x, (x.abs() > 0.99).float().mean().item()


@pytest.mark.parametrize("name,size,channels", CASES, ids=[f"{n}-{s}" for n, s, _ in CASES])
def test_stored_sigma_is_the_top_singular_value_after_construction(name, size, channels):
    ratios = sigma_ratios(built(name, size, channels))
    assert len(ratios) >= 4  # every conv of the backbone is spectrally normalised
    off = {layer: round(r, 4) for layer, r in ratios.items() if abs(r - 1) > 0.05}
    assert not off, f"sigma from the stored u, v is not within 5% of the top singular value: {off}"


GENERATOR_CASES = [case for case in CASES if case[0].startswith("G-")]


@pytest.mark.parametrize("name,size,channels", GENERATOR_CASES, ids=[f"{n}-{s}" for n, s, _ in GENERATOR_CASES])
def test_fresh_generator_images_are_finite_and_not_saturated(name, size, channels):
    x, saturated = saturation(built(name, size, channels))
    assert x.shape == (8, channels, size, size)
    assert torch.isfinite(x).all()
    assert saturated < 0.01, f"{saturated:.1%} of the pixels are saturated"
    assert not torch.equal(x[0], x[1])  # nor one image for every z (SN layers do shrink the output at init)


def test_without_the_refresh_the_check_fails(monkeypatch):
    """The stale vectors spectral_norm stored before the re-initialisation are far off: the
    test above would catch a dcgan_init that forgot to refresh them."""
    monkeypatch.setattr(igan.models.layers, "refresh_spectral_norm", lambda module, iterations=1, exact=False: module)
    net = build("G-sagan", 32, 3)
    assert min(sigma_ratios(net).values()) < 0.5
    assert saturation(net)[1] > 0.5
