"""FID/KID/IS of the evaluator against independent numpy/scipy references, on a toy extractor."""

from __future__ import annotations

import math

import pytest
import torch
from metrics_toys import random_images, reference_fid, reference_kid, toy_extractor

from igan.metrics.evaluate import GANEvaluator, extract_features
from igan.metrics.inception import ImageFeatures


@pytest.fixture
def real_and_fake():
    extractor = toy_extractor()
    real = extractor.extract(random_images(64, seed=0)).pool
    shifted = random_images(64, seed=1, low=-0.6, high=1.0)  # a brighter, narrower distribution
    return extractor, real, shifted


def test_fid_of_a_set_against_itself_is_zero(real_and_fake):
    extractor, real, _ = real_and_fake
    scores = GANEvaluator(extractor, real).evaluate(random_images(64, seed=0))
    assert abs(scores["fid"]) < 1e-3


def test_fid_and_kid_match_the_references(real_and_fake):
    extractor, real, shifted = real_and_fake
    scores = GANEvaluator(extractor, real).evaluate(shifted)
    fake = extractor.extract(shifted).pool
    expected_fid = reference_fid(real.double().numpy(), fake.double().numpy())
    assert scores["fid"] > 0.01
    assert scores["fid"] == pytest.approx(expected_fid, rel=1e-3, abs=1e-5)
    # N = 64 <= 1000: one KID subset, the whole set, i.e. exactly the unbiased MMD^2.
    assert scores["kid"] == pytest.approx(reference_kid(real.double().numpy(), fake.double().numpy()), rel=1e-3, abs=1e-6)
    assert scores["kid_std"] == 0.0
    assert scores["is"] is None and scores["is_std"] is None


def test_every_image_goes_through_the_network_once(real_and_fake):
    extractor, real, shifted = real_and_fake
    evaluator = GANEvaluator(extractor, real)
    backbone = extractor.backbone
    seen = backbone.images_seen
    evaluator.evaluate(iter(shifted.split(10)))  # an iterator of batches, as a generator loop yields
    assert backbone.images_seen - seen == 64


def test_same_inputs_same_numbers_and_the_global_rng_is_untouched(real_and_fake):
    extractor, real, shifted = real_and_fake
    evaluator = GANEvaluator(extractor, real[:40], kid_subsets=5)  # N_fake > N_real: random KID subsets
    torch.manual_seed(1234)
    state = torch.get_rng_state()
    first = evaluator.evaluate(shifted)
    assert torch.equal(torch.get_rng_state(), state)
    second = GANEvaluator(extractor, real[:40], kid_subsets=5).evaluate(shifted)
    assert first == second and first["kid_std"] > 0


def test_inception_score_when_the_network_has_logits():
    extractor = toy_extractor(with_logits=True)
    real = extractor.extract(random_images(40, seed=0)).pool
    evaluator = GANEvaluator(extractor, real)
    assert evaluator.is_unavailable_reason is None
    scores = evaluator.evaluate(random_images(40, seed=1))
    assert scores["is"] is not None and 1.0 <= scores["is"] <= 10.0 and math.isfinite(scores["is_std"])
    assert extractor.backbone.images_seen == 80  # logits came from the same pass as the pool features


def test_without_logits_the_reason_is_given():
    extractor = toy_extractor()
    evaluator = GANEvaluator(extractor, extractor.extract(random_images(4, seed=0)).pool)
    assert "no logits" in evaluator.is_unavailable_reason


def test_too_few_images_are_refused(real_and_fake):
    extractor, real, _ = real_and_fake
    with pytest.raises(ValueError):
        GANEvaluator(extractor, real[:1])
    with pytest.raises(ValueError):
        GANEvaluator(extractor, real).evaluate_features(ImageFeatures(real[:1]))
    with pytest.raises(ValueError):
        GANEvaluator(extractor, real[:, :3])


def test_extract_features_of_a_tensor_or_batches_agree():
    extractor = toy_extractor(with_logits=True)
    images = random_images(12, seed=3)
    whole, batched = extract_features(extractor, images), extract_features(extractor, images.split(5))
    torch.testing.assert_close(whole.pool, batched.pool)
    torch.testing.assert_close(whole.logits, batched.logits)
