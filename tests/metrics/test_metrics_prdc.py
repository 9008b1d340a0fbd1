"""Precision, recall, density and coverage: against the papers' definitions, the prdc package, a collapse
and real glyphs against real glyphs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import requires_kai_font
from metrics_toys import random_images, toy_extractor

from igan.metrics.evaluate import GANEvaluator
from igan.metrics.inception import ImageFeatures
from igan.metrics.frechet import frechet_distance
from igan.metrics.prdc_scores import MIN_FAKE, MIN_REAL, SCORES, RealManifold, real_vs_real


def paper_scores(real: np.ndarray, fake: np.ndarray, k_pr: int = 3, k_dc: int = 5) -> dict[str, float]:
    """The definitions, in float64 from full sorted distance matrices (no sklearn, no prdc).

    Kynkaanniemi et al. 2019: f(x, S) = 1 if x lies within the distance from some s in S to its
    k-th nearest neighbour in S; precision = mean f(fake, real), recall = mean f(real, fake).
    distinct_nn: distinct nearest real samples of the fake ones over M.
    Naeem et al. 2020: density = 1/(kM) sum_j sum_i 1[fake_j in B(real_i, NND_k(real_i))];
    coverage = 1/N sum_i 1[exists j: fake_j in B(real_i, NND_k(real_i))].
    """

    def distances(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    def kth_neighbour(s, k):
        return np.sort(distances(s, s), axis=1)[:, k]  # column 0 is the point itself

    d = distances(real.astype(np.float64), fake.astype(np.float64))  # (N, M)
    nearest_real = {int(np.argmin(d[:, j])) for j in range(d.shape[1])}
    real_r3, fake_r3, real_r5 = kth_neighbour(real, k_pr), kth_neighbour(fake, k_pr), kth_neighbour(real, k_dc)
    return {
        "precision": float(np.mean([(d[:, j] <= real_r3).any() for j in range(d.shape[1])])),
        "recall": float(np.mean([(d[i, :] <= fake_r3).any() for i in range(d.shape[0])])),
        "density": float(sum((d[:, j] <= real_r5).sum() for j in range(d.shape[1])) / (k_dc * d.shape[1])),
        "coverage": float(np.mean([(d[i, :] <= real_r5[i]).any() for i in range(d.shape[0])])),
        "distinct_nn": len(nearest_real) / d.shape[1],
    }


@pytest.fixture
def toy_features():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(80, 6)).astype(np.float32)
    fake = (rng.normal(size=(60, 6)) * 0.8 + 1.0).astype(np.float32)  # shifted and narrower: none 0 or 1
    return real, fake


def test_scores_follow_the_papers_definitions(toy_features):
    real, fake = toy_features
    ours, expected = RealManifold(real).score(fake), paper_scores(real, fake)
    assert ours == pytest.approx(expected, abs=1e-6)
    assert all(0.2 < ours[k] < 0.9 for k in SCORES)  # none a trivial 0 or 1


def test_scores_equal_the_prdc_package(toy_features, capsys):
    """The cached-radii wrapper gives compute_prdc's numbers: k=3 for precision/recall, k=5 for density/coverage."""
    from prdc import compute_prdc

    real, fake = toy_features
    ours = RealManifold(real).score(fake)
    at_3, at_5 = compute_prdc(real, fake, nearest_k=3), compute_prdc(real, fake, nearest_k=5)
    assert ours["precision"] == pytest.approx(at_3["precision"]) and ours["recall"] == pytest.approx(at_3["recall"])
    assert ours["density"] == pytest.approx(at_5["density"]) and ours["coverage"] == pytest.approx(at_5["coverage"])
    capsys.readouterr()
    RealManifold(real).score(fake)
    assert capsys.readouterr().out == ""  # unlike compute_prdc, nothing printed at each evaluation


def test_one_image_repeated_has_no_recall_and_almost_no_coverage():
    extractor = toy_extractor()
    images = random_images(64, seed=0)
    evaluator = GANEvaluator(extractor, extractor.extract(images).pool)
    scores = evaluator.evaluate(images[:1].repeat(64, 1, 1, 1))  # a real image, N times: perfectly "sharp"
    assert scores["precision"] == 1.0
    assert scores["recall"] == 0.0 and scores["coverage"] < 0.1
    varied = evaluator.evaluate(random_images(64, seed=1))
    assert varied["recall"] > 0.5 and varied["coverage"] > 0.5


def test_too_few_samples_leave_the_scores_out_and_the_rest_computed():
    extractor = toy_extractor()
    images = random_images(20, seed=0)
    few_real = GANEvaluator(extractor, extractor.extract(images[: MIN_REAL - 1]).pool).evaluate(images)
    assert all(few_real[k] is None for k in SCORES) and few_real["fid"] is not None
    evaluator = GANEvaluator(extractor, extractor.extract(images).pool)
    assert all(v is None for k, v in evaluator.evaluate(images[: MIN_FAKE - 1]).items() if k in SCORES)
    assert real_vs_real(np.zeros((2 * MIN_REAL - 1, 4))) is None
    with pytest.raises(ValueError, match="dimensions"):
        RealManifold(np.zeros((10, 4))).score(np.zeros((10, 3)))


def test_real_vs_real_is_the_first_half_against_the_second(toy_features):
    real, _ = toy_features
    assert real_vs_real(real) == RealManifold(real[:40]).score(real[40:80])
    assert real_vs_real(torch.from_numpy(real[:79])) == RealManifold(real[:39]).score(real[39:78])  # odd N: last dropped
    assert real_vs_real(real, 30) == RealManifold(real[:30]).score(real[30:60])  # two sets of n, the rest unused
    assert real_vs_real(real, 50) == real_vs_real(real)  # fewer than 2n: halves


def test_the_reference_is_a_second_real_set_of_the_evaluations_size_against_the_evaluations_own():
    extractor = toy_extractor()
    features = extractor.extract(random_images(80, seed=0)).pool
    evaluator = GANEvaluator(extractor, features[:32])
    reference = evaluator.real_reference(features[32:])
    as_generated = evaluator.evaluate_features(ImageFeatures(features[32:64]))  # scored like a generator's samples
    assert reference == {**{k: as_generated[k] for k in SCORES}, "fid": pytest.approx(as_generated["fid"]), "n": 32}
    assert reference["fid"] == frechet_distance(features[:32], features[32:64])
    # Too few further images (fewer than 2 x 32 in all): two disjoint halves of everything there is.
    short = evaluator.real_reference(features[32:52])
    assert short == {**real_vs_real(features[:52]), "fid": frechet_distance(features[:26], features[26:52]), "n": 26}
    assert evaluator.real_reference()["n"] == 16  # nothing further: halves of the evaluation's set, as before


@requires_kai_font
def test_real_glyphs_against_other_real_glyphs_score_at_the_real_vs_real_level():
    """Generated = 128 real glyphs not in the real set: precision and recall near the reference.

    Near, not equal: the reference compares N/2 with N/2, and k-NN balls widen as N shrinks.
    """
    from igan.data.calligraphy import DEFAULT_FONTS, RenderSpec, gb2312_level1, render_dataset, resolve_font

    spec = RenderSpec(fonts=(resolve_font(DEFAULT_FONTS[0]),), chars=gb2312_level1()[:256], image_size=16, margin=0.1)
    glyphs, _ = render_dataset(spec, render_size=32)
    images = torch.from_numpy(glyphs).float().div(127.5).sub(1).unsqueeze(1)
    images = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(0))]
    extractor = toy_extractor()
    features = extractor.extract(images).pool
    evaluator = GANEvaluator(extractor, features[:128])
    reference = evaluator.real_reference()  # 64 vs 64 of the real set
    other = evaluator.evaluate_features(ImageFeatures(features[128:256]))
    for key in ("precision", "recall"):
        assert reference[key] > 0.8 and abs(other[key] - reference[key]) < 0.15, (key, other[key], reference[key])
    collapsed = evaluator.evaluate(images[200:201].repeat(128, 1, 1, 1))
    assert collapsed["recall"] == 0.0 and collapsed["coverage"] < 0.1


def glyph_features(rng: np.random.Generator, centres: np.ndarray, n: int, spread: float = 0.35) -> np.ndarray:
    """``n`` features around glyph centres picked at random: one glyph's renderings vary a little."""
    picks = rng.integers(0, len(centres), n)
    return (centres[picks] + rng.normal(size=(n, centres.shape[1])) * spread).astype(np.float32)


def test_distinct_nn_tells_partial_collapse_from_health_where_pixel_diversity_could_not():
    """64 glyphs drawn well, 1 to 4 glyphs for every z, one glyph under small shifts, and noise (which
    Inception maps to one region away from the glyphs), each 256 features against 256 real ones.

    The pixel ``diversity`` put noise (0.58) and one shifted glyph (0.57) beside 64 glyphs (0.64);
    relative to its real-vs-real value distinct_nn puts health near 1 and all of them far below.
    """
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(64, 256))
    real = RealManifold(glyph_features(rng, centres, 256))
    reference = real.score(glyph_features(rng, centres, 256))["distinct_nn"]
    assert 0.3 < reference < 0.8  # hubs: real samples that are several others' nearest neighbour

    def relative(fake: np.ndarray) -> float:
        return real.score(fake)["distinct_nn"] / reference

    assert 0.85 < relative(glyph_features(rng, centres, 256)) < 1.15
    repeated = [relative(glyph_features(rng, centres[:k], 256)) for k in (1, 2, 3, 4)]
    assert repeated == sorted(repeated) and repeated[-1] < 0.25  # more glyphs, more neighbours, all far below
    shifted = centres[7] + rng.normal(size=(256, 256)) * 0.7  # one glyph, twice the usual variation
    assert relative(shifted.astype(np.float32)) < 0.1
    noise = rng.normal(size=256) * 3 + rng.normal(size=(256, 256)) * 0.35
    scores = real.score(noise.astype(np.float32))
    assert scores["distinct_nn"] / reference < 0.25 and scores["precision"] == 0.0
