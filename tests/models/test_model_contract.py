"""The model contract (igan.models.base): a fourth model is one file plus one config.

The toy model (tests/models/toy_model.py, imported by its class path as a config names it) trains
through the real CLI, is sampled from its last.ckpt and summarised; models that break the
contract stop with one error naming the class and what it lacks.
"""

from pathlib import Path

import pytest
import torch
import yaml
from toy_model import HalfSizeGenerator, ToyDiscriminator, ToyGenerator

from igan.errors import IganError
from igan.models import (
    DCGANDiscriminator,
    DCGANGenerator,
    IDCGANDiscriminator,
    IDCGANGenerator,
    SAGANDiscriminator,
    SAGANGenerator,
)
from igan.models.base import Discriminator, Generator
from igan.models.spec import build_from_spec, build_saved, spec_of
from igan.models.summary import model_summary
from igan.sampling import generate_batches, load_generator
from igan.training.cli import main

RUN = ["--trainer.max_epochs=1", "--trainer.limit_train_batches=2", "--trainer.enable_progress_bar=false",
       "--trainer.enable_model_summary=false", "--samples.num=16", "--metrics.every_n_epochs=0",
       "--trainer.logger=false"]  # W&B is not what these tests are about


def toy_config(path: Path, data_root: Path, generator: str = "ToyGenerator", **generator_args) -> Path:
    """The one config a new model needs: class paths of its G and D, the data, the recipe."""
    config = {
        "seed_everything": 0,
        "model": {
            "generator": {"class_path": f"toy_model.{generator}", "init_args": {"hidden": 32, **generator_args}},
            "discriminator": {"class_path": "toy_model.ToyDiscriminator", "init_args": {"hidden": 32}},
            "loss": "ns",
        },
        "data": {"name": "cifar10", "root": str(data_root), "image_size": 32, "channels": 3,
                 "batch_size": 4, "num_workers": 0},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_toy_fourth_model_trains_samples_and_summarises(tiny_cifar10, tmp_path):
    config = toy_config(tmp_path / "toy.yaml", tiny_cifar10, latent_dim=16)
    rc = main(["--config", str(config), *RUN, f"--trainer.default_root_dir={tmp_path / 'runs'}",
               f"--samples_root={tmp_path / 'samples'}"])
    assert rc == 0
    # The run is named after the model's contract name; the grid of its epoch is written.
    ckpt_path = tmp_path / "runs" / "cifar10-toy-s0" / "checkpoints" / "last.ckpt"
    assert (tmp_path / "samples" / "cifar10-toy-s0" / "epoch_001.png").is_file()

    # The checkpoint holds the recorded arguments, image_size and channels linked from the data.
    ckpt = torch.load(ckpt_path, weights_only=True)
    assert ckpt["hyper_parameters"]["generator"] == {
        "class_path": "toy_model.ToyGenerator",
        "init_args": {"image_size": 32, "channels": 3, "latent_dim": 16, "hidden": 32}}
    assert ckpt["hyper_parameters"]["discriminator"]["init_args"] == {"image_size": 32, "channels": 3, "hidden": 32}

    generator = load_generator(ckpt_path)
    assert isinstance(generator, ToyGenerator) and not generator.training
    trained = {k.removeprefix("generator."): v for k, v in ckpt["state_dict"].items() if k.startswith("generator.")}
    assert all(torch.equal(generator.state_dict()[k], v) for k, v in trained.items())
    images = torch.cat(list(generate_batches(generator, 6, seed=3)))
    assert images.shape == (6, 3, 32, 32) and images.abs().max() <= 1
    assert torch.equal(images, torch.cat(list(generate_batches(generator, 6, seed=3))))

    discriminator = build_saved(ckpt["hyper_parameters"]["discriminator"])
    pixels = 3 * 32 * 32
    assert model_summary(generator, discriminator) == {
        "params_G": (16 * 32 + 32) + (32 * pixels + pixels),
        "params_D": (pixels * 32 + 32) + (32 + 1),
        "flops_G_per_image": 2 * (16 * 32 + 32 * pixels),
        "flops_D_per_image": 2 * (pixels * 32 + 32),
    }


def one_error(capsys, argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err, err[-3000:]
    return errors[0]


@pytest.mark.parametrize("generator, expected", [
    ("HalfSizeGenerator", ["HalfSizeGenerator", "shape (1, 3, 16, 16)", "(1, 3, 32, 32)"]),
    ("NoLatentDimGenerator", ["NoLatentDimGenerator", "self.latent_dim"]),
])
def test_a_model_that_breaks_the_contract_stops_the_cli_with_one_error(generator, expected, tiny_cifar10, tmp_path, capsys):
    config = toy_config(tmp_path / "toy.yaml", tiny_cifar10, generator)
    error = one_error(capsys, ["--config", str(config), *RUN, f"--trainer.default_root_dir={tmp_path / 'runs'}",
                               f"--samples_root={tmp_path / 'samples'}"])
    for text in expected:
        assert text in error
    assert not [p for p in (tmp_path / "runs").rglob("*") if p.is_file()]  # stopped before training or logging


@pytest.mark.parametrize("generator, discriminator", [
    (DCGANGenerator, DCGANDiscriminator), (SAGANGenerator, SAGANDiscriminator), (IDCGANGenerator, IDCGANDiscriminator)])
def test_the_shipped_models_keep_the_contract(generator, discriminator):
    assert issubclass(generator, Generator) and issubclass(discriminator, Discriminator)
    g, d = generator(32, 3, latent_dim=8, width=16), discriminator(32, 3, width=16)
    assert (g.name, g.latent_dim, g.image_size, g.channels) == (d.name, 8, 32, 3)
    assert model_summary(g, d)["params_G"] > 0  # the shape checks pass


def test_init_args_are_those_of_the_outermost_constructor():
    class Wide(ToyGenerator):  # its own arguments, passed on to the toy's
        def __init__(self, image_size: int = 64, channels: int = 1, factor: int = 2) -> None:
            super().__init__(image_size, channels, latent_dim=8, hidden=16 * factor)

    class Same(ToyGenerator):  # no __init__ of its own: records the toy's arguments
        pass

    assert Wide(32, 3).init_args == {"image_size": 32, "channels": 3, "factor": 2}
    assert Same(32, hidden=4).init_args == {"image_size": 32, "channels": 1, "latent_dim": 16, "hidden": 4}
    assert spec_of(Same(32))["class_path"].endswith("Same")


def test_keyword_arguments_are_recorded_flat_and_rebuild_the_network():
    class Kw(ToyDiscriminator):
        def __init__(self, image_size: int = 64, channels: int = 1, **options) -> None:
            super().__init__(image_size, channels, **options)

    d = Kw(32, 3, hidden=8)
    assert d.init_args == {"image_size": 32, "channels": 3, "hidden": 8}
    assert Kw(**d.init_args).net[1].out_features == 8


def test_contract_breaks_in_the_class_are_named_at_definition():
    with pytest.raises(TypeError, match=r"Positional\.__init__ takes \*args"):
        class Positional(Generator):
            def __init__(self, image_size: int, channels: int, *sizes: int) -> None:
                super().__init__(image_size, channels, 8)

    with pytest.raises(TypeError, match=r"Unlinked\.__init__ must take channels"):
        class Unlinked(Discriminator):
            def __init__(self, image_size: int = 64) -> None:
                super().__init__(image_size, 1)


@pytest.mark.parametrize("namespace", [{}, {"name": ""}, {"name": "My Model"}])
def test_a_missing_or_unusable_name_is_named_at_construction(namespace):
    unnamed = type("Unnamed", (Generator,), dict(namespace))
    with pytest.raises(IganError, match=r"Unnamed breaks the Generator contract.*class attribute name"):
        unnamed(32, 3, 8)


def test_a_discriminator_without_one_score_per_image_is_refused():
    class TwoScores(ToyDiscriminator):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([super().forward(x)] * 2, dim=1)

    with pytest.raises(IganError, match=r"TwoScores breaks the model contract.*\(1, 2\).*one score per image"):
        model_summary(ToyGenerator(32, 3), TwoScores(32, 3))
    with pytest.raises(IganError, match=r"disagree on image_size: 32 and 64"):
        model_summary(ToyGenerator(32, 3), ToyDiscriminator(64, 3))
    with pytest.raises(IganError, match=r"HalfSizeGenerator breaks the model contract"):
        model_summary(HalfSizeGenerator(32, 3), ToyDiscriminator(32, 3))


def test_checkpoints_build_only_igan_or_already_imported_model_classes():
    toy = build_from_spec({"class_path": "toy_model.ToyGenerator", "init_args": {"image_size": 32}})
    assert isinstance(toy, ToyGenerator) and toy.image_size == 32
    with pytest.raises(IganError, match=r"only igan.*\(import not_imported_models before loading it\)"):
        build_from_spec({"class_path": "not_imported_models.G", "init_args": {}})
    with pytest.raises(IganError, match="only igan"):  # imported, but not a model class
        build_from_spec({"class_path": "torch.nn.Linear", "init_args": {"in_features": 1, "out_features": 1}})
