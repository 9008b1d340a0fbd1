"""GANDataModule rejects impossible settings at construction, in one message naming the setting."""

import pytest

from igan.data import GANDataModule
from igan.errors import IganError


@pytest.mark.parametrize("kwargs, message", [
    (dict(batch_size=0), "data.batch_size must be >= 1, got 0"),
    (dict(batch_size=-3), "data.batch_size must be >= 1, got -3"),
    (dict(num_workers=-1), "data.num_workers must be >= 0, got -1"),
    (dict(fonts=[]), "data.fonts is empty: name at least one Kai font (installed family name or font file path)"),
    (dict(name="mnist"), "data.name must be calligraphy, cifar10 or folder, got 'mnist'"),
])
def test_bad_settings_are_one_clear_error(kwargs, message):
    with pytest.raises(IganError) as info:
        GANDataModule(**kwargs)
    assert str(info.value) == message


def test_good_edge_values_are_accepted():
    dm = GANDataModule(name="folder", batch_size=1, num_workers=0, fonts=[])  # fonts only matter for calligraphy
    assert dm.hparams.batch_size == 1
