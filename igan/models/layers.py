"""Small building blocks shared by the networks: spectral norm switch, DCGAN init, resolution checks."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _SpectralNorm
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from igan.errors import IganError


def maybe_sn(layer: nn.Module, enabled: bool) -> nn.Module:
    """Wrap ``layer`` in spectral norm when ``enabled``: one flag swaps a whole network (StudioGAN style)."""
    return _spectral_norm(layer) if enabled else layer


@torch.no_grad()
def refresh_spectral_norm(module: nn.Module, iterations: int = 1, exact: bool = False) -> nn.Module:
    """Bring spectral norm's singular vectors of every SN weight of ``module`` up to date.

    Spectral norm keeps its estimates ``u, v`` as buffers and updates them only in training mode.
    Whenever the weights change outside training (a re-initialisation, an average of weights),
    the stored vectors belong to other weights, and an eval-mode forward divides by a wrong
    sigma: a freshly DCGAN-initialised SN generator gave saturated noise. ``exact`` sets them to
    the top singular vectors (an SVD, for a one-off re-initialisation: 15 power iterations left
    sigma up to 12% low); otherwise ``iterations`` warm-started power iterations run.
    """
    for m in module.modules():
        if parametrize.is_parametrized(m, "weight"):
            weight = m.parametrizations.weight.original
            for p in m.parametrizations.weight:
                if isinstance(p, _SpectralNorm):
                    matrix = p._reshape_weight_to_matrix(weight)
                    if exact:
                        u, _, vh = torch.linalg.svd(matrix.float(), full_matrices=False)
                        p._u.copy_(u[:, 0])
                        p._v.copy_(vh[0])
                    else:
                        p._power_method(matrix, iterations)
    return module


def keep_own_init(module: nn.Module) -> nn.Module:
    """Mark an inserted block (attention, involution) so :func:`dcgan_init` leaves it alone.

    Such blocks come with the initialisation of their own papers; N(0, 0.02) on the involution's
    two kernel-generating convs would shrink its output about 30-fold.
    """
    module.keeps_own_init = True
    return module


def _backbone_modules(module: nn.Module):
    if getattr(module, "keeps_own_init", False):
        return
    yield module
    for child in module.children():
        yield from _backbone_modules(child)


def dcgan_init(module: nn.Module) -> None:
    """N(0, 0.02) conv weights and N(1, 0.02) norm gains, as in Radford et al.

    Spectrally normalised layers are initialised on their ``original`` weight, which is what
    the parametrization divides by sigma. Blocks marked by :func:`keep_own_init` are skipped.
    """
    for m in _backbone_modules(module):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            nn.init.normal_(weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    refresh_spectral_norm(module, exact=True)  # the vectors spectral_norm stored belong to the replaced weights


def num_stages(image_size: int) -> int:
    """Stride-2 stages between 4x4 and ``image_size``; only powers of two from 16 up are valid."""
    stages = math.log2(image_size / 4) if image_size > 0 else -1
    if image_size < 16 or stages != int(stages):
        raise IganError(f"image_size must be a power of two >= 16 (32 and 64 are tested), got {image_size}")
    return int(stages)

