"""igan.data.datamodule: GANDataModule refuses impossible settings in one message naming the setting, and
GlyphDataset serves the in-memory images (calligraphy, folder) to the training DataLoader."""

import pytest
import torch
from torch.utils.data import DataLoader

from igan.data import GANDataModule
from igan.data.datamodule import GlyphDataset, _drop_labels
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


def test_glyph_batches_are_built_whole_and_equal_the_images_one_by_one():
    """``GlyphDataset.__getitems__`` (one indexing per batch) serves exactly what per-image
    ``ToTensor + Normalize(0.5, 0.5)`` would, grayscale repeated to 3 channels where asked."""
    images = torch.randint(0, 256, (10, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    for channels in (1, 3):
        dataset = GlyphDataset(images, channels)
        expected = torch.stack([(images[i].float() / 255 - 0.5) / 0.5 for i in range(10)]).unsqueeze(1)
        expected = expected.expand(-1, channels, -1, -1)
        assert torch.allclose(dataset.__getitems__([7, 2, 2, 9]), expected[[7, 2, 2, 9]], atol=1e-6)
        # Bit-identical to converting image by image (resumed runs rely on it).
        assert torch.equal(dataset.__getitems__([7, 2]), torch.stack(
            [images[i].float().div(127.5).sub(1.0).expand(channels, -1, -1) for i in (7, 2)]))
        assert dataset[7].shape == (channels, 8, 8)
        loader = DataLoader(dataset, batch_size=4, shuffle=False, drop_last=True, collate_fn=_drop_labels)
        batches = list(loader)
        assert [b.shape for b in batches] == [(4, channels, 8, 8)] * 2
        assert torch.equal(torch.cat(batches), torch.stack([dataset[i] for i in range(8)]))
        assert _drop_labels(batches[0]) is batches[0]  # a built batch is not stacked again
