"""Involution kernel maps: the values are the kernels summed over K*K, drawn beside their images."""

import torch

from igan.models import DCGANGenerator, IDCGANGenerator
from igan.ops import Involution2d
from igan.training.callbacks import SampleGrid
from igan.training.kernel_maps import (
    generate_with_kernel_maps,
    heat_map,
    kernel_map_tiles,
)


def test_maps_are_kernels_summed_over_taps_and_averaged_over_groups():
    torch.manual_seed(0)
    g = IDCGANGenerator(32, 3, latent_dim=16, width=32, involution_resolutions=[8, 16]).eval()
    z = torch.randn(3, 16)
    expected = []
    handles = [layer.register_forward_hook(lambda m, i, o: expected.append(m.forward(i[0], return_kernel=True)[1]))
               for layer in g.modules() if isinstance(layer, Involution2d)]
    with torch.no_grad():
        reference_images = g(z)
    for handle in handles:
        handle.remove()
    g.train()  # the function must switch to eval mode and back by itself
    images, maps = generate_with_kernel_maps(g, z)
    assert g.training
    torch.testing.assert_close(images, reference_images)
    assert [m.shape for m in maps] == [(3, 8, 8), (3, 16, 16)]
    for got, kernel in zip(maps, expected):
        torch.testing.assert_close(got, kernel.sum(dim=2).mean(dim=1))


def test_a_generator_without_involution_has_no_maps():
    _, maps = generate_with_kernel_maps(DCGANGenerator(32, 1, latent_dim=8, width=8), torch.randn(2, 8))
    assert maps == []


def test_heat_map_orders_colours_from_dark_to_bright_per_image():
    values = torch.tensor([[[0.0, 1.0], [2.0, 3.0]], [[-5.0, -5.0], [-5.0, 10.0]]])
    rgb = heat_map(values, size=4)
    assert rgb.shape == (2, 3, 4, 4) and rgb.min() >= 0 and rgb.max() <= 1
    brightness = rgb.sum(1)
    # Each map is scaled on its own: its minimum is the darkest colour, its maximum the brightest.
    assert brightness[0, 0, 0] < brightness[0, 0, 2] < brightness[0, 2, 0] < brightness[0, 2, 2]
    torch.testing.assert_close(brightness[1, 0, 0], brightness[0, 0, 0])
    torch.testing.assert_close(brightness[1, 3, 3], brightness[0, 3, 3])


def test_tiles_put_each_image_before_its_maps():
    images = torch.rand(2, 1, 8, 8) * 2 - 1
    maps = [torch.rand(2, 4, 4), torch.rand(2, 2, 2)]
    tiles = kernel_map_tiles(images, maps)
    assert tiles.shape == (6, 3, 8, 8)
    torch.testing.assert_close(tiles[3], images[1].expand(3, -1, -1))
    assert tiles.min() >= -1 and tiles.max() <= 1


def test_a_diverged_map_is_drawn_not_fatal():
    values = torch.tensor([[[float("nan"), 1.0], [float("inf"), 3.0]]])
    rgb = heat_map(values, size=2)
    assert torch.isfinite(rgb).all()


def test_kernel_map_count_is_capped_by_the_grid_size():
    assert SampleGrid(num=8).kernel_maps == 8
    assert SampleGrid(num=64, kernel_maps=0).kernel_maps == 0
