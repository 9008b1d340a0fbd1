"""Truncated noise and the paths between two seeds' vectors, checked against their definitions:
the truncated normal (resampled, not clipped), slerp and lerp."""

from __future__ import annotations

import math

import pytest
import torch

from igan.noise import fixed_noise, interpolation_noise, lerp, seed_vector, slerp, truncate_rows
from igan.sampling import noise_batches

D = 100


def truncated_normal_mass(lo: float, hi: float, t: float) -> float:
    """P(lo <= |z| < hi) for z standard normal conditioned on |z| <= t (0 <= lo < hi <= t)."""
    return (math.erf(hi / math.sqrt(2)) - math.erf(lo / math.sqrt(2))) / math.erf(t / math.sqrt(2))


@pytest.mark.parametrize("t", [0.5, 1.0, 2.0])
def test_truncation_bounds_and_keeps_the_values_inside(t):
    plain = fixed_noise(2000, D, 5)
    z = truncate_rows(plain.clone(), t, seed=5)
    inside = plain.abs() <= t
    assert z.abs().max() <= t
    assert torch.equal(z[inside], plain[inside])  # only the values outside are redrawn
    assert not torch.equal(z, plain)


def test_truncation_resamples_rather_than_clips():
    """|z| follows the truncated normal bin by bin; clipping would put 62% of the values at exactly ±0.5."""
    t, bins = 0.5, 10
    z = truncate_rows(fixed_noise(2000, D, 7), t, seed=7).abs().flatten()
    assert (z == t).sum() == 0
    edges = torch.linspace(0, t, bins + 1).tolist()
    for lo, hi in zip(edges, edges[1:]):
        observed = ((z >= lo) & (z < hi)).double().mean().item()
        expected = truncated_normal_mass(lo, hi, t)
        assert abs(observed - expected) < 0.005, (lo, hi, observed, expected)  # 200,000 values: ~7 sigma


def test_truncation_is_deterministic_and_independent_of_batching():
    whole = torch.cat(list(noise_batches(37, D, 3, batch_size=10_000, truncation=0.7)))
    assert torch.equal(whole, torch.cat(list(noise_batches(37, D, 3, batch_size=16, truncation=0.7))))
    assert torch.equal(whole, torch.cat(list(noise_batches(37, D, 3, batch_size=10_000, truncation=0.7))))
    assert not torch.equal(whole, torch.cat(list(noise_batches(37, D, 4, batch_size=10_000, truncation=0.7))))
    assert torch.equal(whole[0], seed_vector(D, 3, truncation=0.7))


def test_no_truncation_is_the_plain_fixed_noise():
    assert torch.equal(torch.cat(list(noise_batches(40, D, 1, batch_size=16))), fixed_noise(40, D, 1))


@pytest.mark.parametrize("latent_dim, num", [(100, 2), (100, 64), (128, 64), (16, 3)])
def test_seed_vector_is_the_first_row_of_a_seeds_draw(latent_dim, num):
    assert torch.equal(seed_vector(latent_dim, 9), next(noise_batches(num, latent_dim, 9))[0])


@pytest.mark.parametrize("path", ["slerp", "lerp"])
def test_paths_start_and_end_at_the_seeds_vectors(path):
    z = interpolation_noise(D, 1, 2, 7, path)
    assert z.shape == (7, D)
    assert torch.equal(z[0], seed_vector(D, 1)) and torch.equal(z[-1], seed_vector(D, 2))


def test_slerp_moves_along_the_arc_at_constant_angular_speed():
    """For vectors of one norm: the norm stays, and the angle to a grows as t times the angle from a to b."""
    a, b = seed_vector(D, 1).double(), seed_vector(D, 2).double()
    b = b * a.norm() / b.norm()
    t = torch.linspace(0, 1, 9, dtype=torch.float64)
    z = slerp(a, b, t)
    omega = torch.arccos(torch.dot(a, b) / (a.norm() * b.norm()))
    angles = torch.arccos((z @ a / (z.norm(dim=1) * a.norm())).clamp(-1, 1))
    torch.testing.assert_close(z.norm(dim=1), a.norm().expand(9))
    torch.testing.assert_close(angles, t * omega, atol=1e-6, rtol=0)


def test_slerp_norms_follow_its_formula_and_stay_gaussian_where_lerp_shrinks():
    a, b = seed_vector(D, 1), seed_vector(D, 2)
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    a64, b64 = a.double(), b.double()
    omega = torch.arccos(torch.dot(a64, b64) / (a64.norm() * b64.norm()))
    s0, s1 = torch.sin((1 - t) * omega) / torch.sin(omega), torch.sin(t * omega) / torch.sin(omega)
    expected = (s0 ** 2 * a64.norm() ** 2 + s1 ** 2 * b64.norm() ** 2 + 2 * s0 * s1 * torch.dot(a64, b64)).sqrt()
    torch.testing.assert_close(slerp(a, b, t).double().norm(dim=1), expected, rtol=1e-5, atol=0)
    middle = slerp(a, b, t)[2].norm()
    assert min(a.norm(), b.norm()) * 0.95 < middle < max(a.norm(), b.norm()) * 1.05
    assert lerp(a, b, t)[2].norm() < 0.8 * middle  # nearly orthogonal: |a + b| / 2 ~ sqrt(D / 2)


def test_lerp_midpoint_is_the_mean():
    a, b = seed_vector(D, 1), seed_vector(D, 2)
    z = interpolation_noise(D, 1, 2, 3, "lerp")
    torch.testing.assert_close(z[1], (a + b) / 2, rtol=0, atol=1e-7)


def test_interpolation_is_deterministic_and_truncated_ends_are_the_truncated_vectors():
    z = interpolation_noise(D, 4, 8, 6, "slerp", truncation=0.6)
    assert torch.equal(z, interpolation_noise(D, 4, 8, 6, "slerp", truncation=0.6))
    assert torch.equal(z[0], seed_vector(D, 4, 0.6)) and torch.equal(z[-1], seed_vector(D, 8, 0.6))
    assert z[0].abs().max() <= 0.6
