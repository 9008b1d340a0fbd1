"""DCGAN networks: shapes at every supported size, initialisation, specs for checkpoints."""

import pytest
import torch

from igan.errors import IganError
from igan.models import DCGANDiscriminator, DCGANGenerator
from igan.models.spec import build_from_spec, spec_of


@pytest.mark.parametrize("image_size", [32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes(image_size, channels):
    g = DCGANGenerator(image_size, channels, latent_dim=32, width=8)
    d = DCGANDiscriminator(image_size, channels, width=8)
    x = g(torch.randn(5, 32))
    assert x.shape == (5, channels, image_size, image_size)
    assert x.abs().max() <= 1
    assert d(x).shape == (5,)


def test_dcgan_init_is_normal_0_02():
    g = DCGANGenerator(64, 3, latent_dim=100, width=64)
    w = g.net[0].weight
    assert abs(w.std().item() - 0.02) < 0.002 and abs(w.mean().item()) < 0.002


def test_spectral_norm_flag_wraps_every_conv():
    d = DCGANDiscriminator(32, 3, width=8, spectral_norm=True)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(hasattr(m, "parametrizations") for m in convs)


def test_unsupported_image_size_is_rejected():
    with pytest.raises(IganError, match="power of two"):
        DCGANGenerator(48, 1)


def test_spec_round_trip_rebuilds_the_same_network():
    g = DCGANGenerator(32, 1, latent_dim=16, width=8)
    spec = spec_of(g)
    assert spec == {"class_path": "igan.models.dcgan.DCGANGenerator",
                    "init_args": {"image_size": 32, "channels": 1, "latent_dim": 16, "width": 8,
                                  "spectral_norm": False, "batch_norm": True}}
    clone = build_from_spec(spec)
    clone.load_state_dict(g.state_dict())
    z = torch.randn(2, 16)
    assert torch.equal(clone.eval()(z), g.eval()(z))


def test_spec_outside_igan_is_refused():
    with pytest.raises(IganError, match="only igan"):
        build_from_spec({"class_path": "os.system", "init_args": {}})
