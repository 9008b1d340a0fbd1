"""The extractor front end (quantisation, grayscale, chunks) and where the weights come from."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch
from metrics_toys import (
    TOY_FEATURES,
    random_images,
    tiny_torchscript_weights,
    toy_extractor,
)
from PIL import Image
from torchmetrics.image.fid import FrechetInceptionDistance

from igan.errors import IganError
from igan.io.images import grid_array, save_image
from igan.metrics import inception
from igan.metrics.inception import InceptionWeightsMissing, load_inception, to_uint8_rgb


def test_float_images_are_quantised_like_a_saved_png(tmp_path):
    x = torch.linspace(-1.2, 1.2, 97).view(1, 1, 1, 97)
    png = save_image(grid_array(x, nrow=1, padding=0), tmp_path / "x.png")
    saved = torch.from_numpy(np.array(Image.open(png))).view(1, 1, 1, 97)
    assert torch.equal(to_uint8_rgb(x)[:, :1], saved)
    assert to_uint8_rgb(x).shape == (1, 3, 1, 97)  # grayscale repeated to RGB


def test_real_uint8_images_round_trip_through_the_training_range():
    u = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    as_training_data = u.float() / 127.5 - 1  # what the datamodule serves
    assert torch.equal(to_uint8_rgb(as_training_data), to_uint8_rgb(u))


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError):
        to_uint8_rgb(torch.zeros(2, 2, 8, 8))
    with pytest.raises(ValueError):
        to_uint8_rgb(torch.zeros(8, 8))


def test_chunks_cover_every_image_once_and_give_the_same_features():
    images = random_images(23, seed=0)
    small, large = toy_extractor(chunk_size=5), toy_extractor(chunk_size=100)
    a, b = small.extract(images), large.extract(images)
    assert small.backbone.calls == 5 and small.backbone.images_seen == 23
    assert a.pool.shape == (23, TOY_FEATURES) and a.logits is None
    torch.testing.assert_close(a.pool, b.pool)
    assert not a.pool.is_inference()  # usable by torchmetrics outside inference mode


def test_the_default_chunk_is_small_on_a_cpu_and_large_elsewhere():
    images = random_images(10, seed=3)
    extractor = toy_extractor(chunk_size=None)
    extractor.extract(images)
    assert extractor.backbone.calls == -(-10 // inception.CPU_CHUNK)  # chunks of CPU_CHUNK, the last shorter
    assert extractor.chunk_for(torch.device("cuda")) == inception.DEVICE_CHUNK > inception.CPU_CHUNK
    assert toy_extractor(chunk_size=7).chunk_for(torch.device("cuda")) == 7  # an explicit size wins
    torch.testing.assert_close(extractor.extract(images).pool, toy_extractor(chunk_size=100).extract(images).pool)


def test_it_is_a_valid_torchmetrics_feature_module():
    extractor = toy_extractor()
    fid = FrechetInceptionDistance(feature=extractor)  # num_features: no dummy forward
    assert extractor.backbone.images_seen == 0
    fid.update(random_images(8, seed=1), real=True)
    fid.update(random_images(8, seed=2), real=False)
    assert torch.isfinite(fid.compute())


def test_stays_in_eval_mode():
    extractor = toy_extractor()
    extractor.train()
    assert not extractor.training and not extractor.backbone.training


def test_the_weights_error_is_an_igan_error_saying_how_to_get_them(monkeypatch, tmp_path):
    monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(inception, "fid_helper_weights", lambda: None)
    monkeypatch.setattr(inception.importlib.util, "find_spec", lambda name: None)  # torch-fidelity absent
    with pytest.raises(InceptionWeightsMissing) as info:
        load_inception()
    assert isinstance(info.value, IganError)
    assert "pip install 'igan[fid]'" in str(info.value) and inception.WEIGHTS_ENV in str(info.value)


def test_an_explicit_path_that_does_not_exist_is_an_error_not_a_fallback(monkeypatch, tmp_path):
    monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)
    with pytest.raises(InceptionWeightsMissing, match="do not exist"):
        load_inception(str(tmp_path / "nope.pt"))
    monkeypatch.setenv(inception.WEIGHTS_ENV, str(tmp_path / "env.pt"))
    with pytest.raises(InceptionWeightsMissing, match="env.pt"):
        load_inception()
    (tmp_path / "junk.pt").write_bytes(b"not torchscript")
    with pytest.raises(InceptionWeightsMissing, match="cannot load"):
        load_inception(str(tmp_path / "junk.pt"))


def test_explicit_torchscript_file_is_used(monkeypatch, tmp_path):
    monkeypatch.setenv(inception.WEIGHTS_ENV, tiny_torchscript_weights(tmp_path))
    extractor = load_inception()
    assert extractor.name.startswith("tf-inception-") and not extractor.has_logits
    white = extractor.extract(torch.full((2, 1, 8, 8), 255, dtype=torch.uint8)).pool
    torch.testing.assert_close(white, torch.full((2, 2048), 255 / 128 - 1))  # TF range; resizing keeps the means


def test_a_network_with_the_wrong_output_is_reported(tmp_path):
    extractor = load_inception(tiny_torchscript_weights(tmp_path, width=3))
    with pytest.raises(IganError, match="not the \\(N, 2048\\) pool features"):
        extractor.extract(random_images(2, seed=0))


def _fake_torch_fidelity(monkeypatch, network_factory):
    package = types.ModuleType("torch_fidelity")
    module = types.ModuleType("torch_fidelity.feature_extractor_inceptionv3")
    module.FeatureExtractorInceptionV3 = network_factory
    package.feature_extractor_inceptionv3 = module
    monkeypatch.setitem(sys.modules, "torch_fidelity", package)
    monkeypatch.setitem(sys.modules, "torch_fidelity.feature_extractor_inceptionv3", module)
    real_find_spec = inception.importlib.util.find_spec
    monkeypatch.setattr(
        inception.importlib.util, "find_spec", lambda name: object() if name == "torch_fidelity" else real_find_spec(name)
    )
    monkeypatch.setattr(inception, "fid_helper_weights", lambda: None)
    monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)


def test_torch_fidelity_failure_falls_through_to_the_explanation(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    _fake_torch_fidelity(monkeypatch, offline)
    with pytest.raises(InceptionWeightsMissing, match="ConnectionError: no network"):
        load_inception()


def test_torch_fidelity_gives_logits_for_the_inception_score(monkeypatch):
    class FakeFidelity(torch.nn.Module):
        def __init__(self, name, features_list):
            super().__init__()
            assert features_list == ["2048", "logits_unbiased"]
            self.scale = torch.nn.Parameter(torch.ones(()))

        def forward(self, x):
            assert x.dtype == torch.uint8
            n = x.shape[0]
            return torch.ones(n, 2048) * self.scale, torch.zeros(n, 1008)

    _fake_torch_fidelity(monkeypatch, FakeFidelity)
    extractor = load_inception()
    features = extractor.extract(random_images(3, seed=0))
    assert extractor.has_logits and features.pool.shape == (3, 2048) and features.logits.shape == (3, 1008)
