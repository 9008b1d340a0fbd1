"""Real-image features: computed once, stored atomically, reused; a new key, count or network rebuilds."""

from __future__ import annotations

import torch
from metrics_toys import random_images, toy_extractor

from igan.metrics.cache import cache_path, cached_real_features


def _batches(n: int):
    return lambda: iter(random_images(n, seed=0).split(7))


def test_written_once_then_reused_without_running_the_network(tmp_path):
    extractor = toy_extractor()
    path = cache_path(tmp_path / "fid_stats", "calligraphy-8px-1ch-abc", (1, 8, 8), 20, extractor.name)
    first, cached = cached_real_features(path, extractor, 20, _batches(20))
    assert not cached and path.is_file() and extractor.backbone.images_seen == 20
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind

    def must_not_run():
        raise AssertionError("real images were read although the cache exists")

    again, cached = cached_real_features(path, extractor, 20, must_not_run)
    assert cached and torch.equal(first, again) and extractor.backbone.images_seen == 20


def test_the_file_name_separates_key_shape_count_and_network(tmp_path):
    base = cache_path(tmp_path, "data/key with spaces", (1, 8, 8), 20, "toy")
    assert base.parent == tmp_path and " " not in base.name and "/" not in base.name
    others = [
        cache_path(tmp_path, "other-key", (1, 8, 8), 20, "toy"),
        cache_path(tmp_path, "data/key with spaces", (3, 8, 8), 20, "toy"),
        cache_path(tmp_path, "data/key with spaces", (1, 8, 8), 21, "toy"),
        cache_path(tmp_path, "data/key with spaces", (1, 8, 8), 20, "tf-inception-123"),
    ]
    assert len({base, *others}) == 5


def test_a_changed_count_or_a_corrupt_file_rebuilds(tmp_path):
    extractor = toy_extractor()
    path = tmp_path / "stats.pt"
    cached_real_features(path, extractor, 20, _batches(20))
    _, cached = cached_real_features(path, extractor, 14, _batches(14))  # same file, other count: stale
    assert not cached and extractor.backbone.images_seen == 34
    path.write_bytes(b"truncated")
    features, cached = cached_real_features(path, extractor, 14, _batches(14))
    assert not cached and features.shape == (14, extractor.num_features)
    assert torch.load(path, weights_only=True)["pool"].shape == (14, extractor.num_features)


def test_non_writers_compute_but_do_not_store(tmp_path):
    path = tmp_path / "stats.pt"
    cached_real_features(path, toy_extractor(), 20, _batches(20), write=False)
    assert not path.exists()
