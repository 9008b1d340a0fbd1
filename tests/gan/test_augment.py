"""Differentiable augmentation: each policy moves or blanks what it says, keeps gradients, and names are checked."""

import pytest
import torch

from igan.gan.augment import augment, cutout, parse_policy, translate


def test_policy_names_are_parsed_and_unknown_ones_refused():
    assert parse_policy(" translation, cutout ,") == ["translation", "cutout"]
    assert parse_policy(None) == parse_policy("") == []
    with pytest.raises(ValueError, match="unknown augmentation flip"):
        parse_policy("translation,flip")


def test_translation_shifts_each_image_by_a_whole_number_of_pixels_repeating_the_edge():
    torch.manual_seed(0)
    x = torch.arange(2 * 8 * 8, dtype=torch.float32).view(2, 1, 8, 8).repeat(1, 3, 1, 1)
    y = translate(x)

    def shifted(image, dy, dx):
        return image[:, (torch.arange(8) - dy).clamp(0, 7)][:, :, (torch.arange(8) - dx).clamp(0, 7)]

    for image, out in zip(x, y):
        matches = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if torch.equal(out, shifted(image, dy, dx))]
        assert len(matches) == 1  # one shift of at most 1/8 of the side, the same for every channel


def test_cutout_blanks_one_square_of_half_the_side_at_most():
    torch.manual_seed(0)
    zero = cutout(torch.ones(16, 2, 8, 8)) == 0
    assert torch.equal(zero[:, 0], zero[:, 1])  # the same square in every channel
    rows, cols = zero[:, 0].any(dim=2).sum(1), zero[:, 0].any(dim=1).sum(1)
    assert torch.equal(zero[:, 0].flatten(1).sum(1), rows * cols)  # a rectangle: the square, clipped by the border
    assert rows.max() == cols.max() == 4 and rows.min() >= 2 and cols.min() >= 2


def test_augmentation_is_differentiable_with_respect_to_the_images():
    torch.manual_seed(0)
    x = torch.randn(4, 1, 8, 8, requires_grad=True)
    augment(x, parse_policy("translation,cutout,brightness,contrast")).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
