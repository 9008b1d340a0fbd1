import pytest
import torch
from torchmetrics.image.fid import FrechetInceptionDistance

from igan.metrics import frechet
from igan.metrics.frechet import FeaturePassThrough, frechet_distance


def _torchmetrics(real, fake):
    fid = FrechetInceptionDistance(feature=FeaturePassThrough(real.shape[1]))
    fid.update(real, real=True)
    fid.update(fake, real=False)
    return float(fid.compute())


@pytest.mark.parametrize("n_real, n_fake", [(40, 30), (7, 12), (30, 60)])
def test_the_cross_product_route_equals_torchmetrics_fid(n_real, n_fake):
    generator = torch.Generator().manual_seed(n_real)
    real = torch.randn(n_real, 64, generator=generator).abs()
    fake = torch.randn(n_fake, 64, generator=generator) * 1.5 + 0.3
    expected = _torchmetrics(real, fake)
    assert frechet_distance(real, fake) == pytest.approx(expected, rel=1e-4)


def test_each_size_takes_its_route(monkeypatch):
    """Fewer samples than dimensions: the cross-product, never the D x D route; otherwise torchmetrics'."""
    calls = []
    monkeypatch.setattr(frechet, "_torchmetrics_fid", lambda real, fake: calls.append(len(real)) or -1.0)
    assert frechet_distance(torch.randn(40, 64), torch.randn(30, 64)) >= 0 and calls == []
    assert frechet_distance(torch.randn(50, 8), torch.randn(60, 8)) == -1.0 and calls == [50]


def test_sets_larger_than_the_feature_dimension_take_torchmetrics_route():
    generator = torch.Generator().manual_seed(1)
    real, fake = torch.randn(50, 8, generator=generator), torch.randn(60, 8, generator=generator) + 1
    assert frechet_distance(real, fake) == pytest.approx(_torchmetrics(real, fake), rel=1e-6)


def test_a_set_against_itself_is_zero_and_shifted_means_add_their_squared_distance():
    real = torch.randn(20, 32, generator=torch.Generator().manual_seed(2))
    assert abs(frechet_distance(real, real)) < 1e-9
    assert frechet_distance(real, real + 0.5) == pytest.approx(32 * 0.25, rel=1e-6)


@pytest.mark.parametrize("real, fake", [(torch.zeros(1, 4), torch.zeros(3, 4)), (torch.zeros(3, 4), torch.zeros(1, 4)),
                                        (torch.zeros(3, 4), torch.zeros(3, 5)), (torch.zeros(3, 4, 5), torch.zeros(3, 4, 5))])
def test_bad_shapes_are_refused(real, fake):
    with pytest.raises(ValueError):
        frechet_distance(real, fake)
