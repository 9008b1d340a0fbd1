"""``igan train`` (and train_gan.py) sends ``task: translation`` configs to the translation CLI and every other config to the GAN CLI."""

from __future__ import annotations

import importlib.util
import types

import pytest

from conftest import REPO


@pytest.fixture(params=["train_gan.py", "igan.commands.train", "igan train"])
def train_gan(monkeypatch, request):
    if request.param == "train_gan.py":
        spec = importlib.util.spec_from_file_location("train_gan_script", REPO / "train_gan.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    elif request.param == "igan.commands.train":
        import igan.commands.train as module
    else:
        from igan.__main__ import main as igan_main

        module = types.SimpleNamespace(main=lambda args: igan_main(["train", *args]))
    calls = []
    import igan.training.cli
    import igan.translation.cli

    monkeypatch.setattr(igan.training.cli, "main", lambda args=None: calls.append(("gan", args)) or 0)
    monkeypatch.setattr(igan.translation.cli, "main", lambda args=None: calls.append(("translation", args)) or 0)
    return module, calls


@pytest.mark.parametrize("argv", [["--config", "{c}"], ["--config={c}"], ["--config", "{c}", "--trainer.max_epochs=1"]])
def test_translation_configs_go_to_the_translation_cli(train_gan, argv):
    module, calls = train_gan
    config = str(REPO / "configs" / "translate" / "calligraphy_involution.yaml")
    args = [a.format(c=config) for a in argv]
    assert module.main(args) == 0
    assert calls == [("translation", args)]


@pytest.mark.parametrize("config", ["calligraphy_idcgan.yaml", "ablation/cifar10_none.yaml", "no/such.yaml"])
def test_other_configs_go_to_the_gan_cli(train_gan, config):
    module, calls = train_gan
    args = ["--config", str(REPO / "configs" / config)]
    assert module.main(args) == 0
    assert calls == [("gan", args)]
