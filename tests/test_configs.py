"""Every shipped config trains a few steps; the ablation configs differ only in the inserted block, and
the three calligraphy models share igan's fast recipe."""

from pathlib import Path

import pytest
import yaml
from conftest import REPO, TEST_CHARS
from PIL import Image

from igan.training.cli import main

CONFIGS = sorted(p.relative_to(REPO / "configs").as_posix()
                 for folder in ("", "ablation", "published") for p in (REPO / "configs" / folder).glob("*.yaml"))
TINY = ["--model.generator.init_args.width=8", "--model.discriminator.init_args.width=8",
        "--trainer.max_epochs=1", "--trainer.limit_train_batches=2", "--data.batch_size=4",
        "--data.num_workers=0", "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
        "--samples.num=16", "--samples.kernel_maps=4", "--metrics.every_n_epochs=0"]
BLOCK_KEYS = {"attention_resolutions", "attention_pool", "attention_value_ratio", "involution_resolutions", "kernel_size", "group_channels",
              "reduction_ratio", "involution_norm", "replace", "kernel_spectral_norm"}


def test_every_model_and_dataset_has_its_configs():
    expected = {f"{prefix}{d}_{m}.yaml" for d in ("calligraphy", "cifar10")
                for prefix, models in (("", ("dcgan", "sagan", "idcgan")), ("ablation/", ("none", "attention", "involution")))
                for m in models}
    expected |= {f"published/calligraphy_{m}.yaml" for m in ("dcgan", "sagan", "idcgan")}
    assert expected <= set(CONFIGS)


@pytest.mark.parametrize("config", CONFIGS)
def test_a_few_training_steps(config, tmp_path, request):
    data = ([f"--data.root={request.getfixturevalue('calligraphy_root')}", f"--data.chars={TEST_CHARS}"]
            if "calligraphy" in config else [f"--data.root={request.getfixturevalue('tiny_cifar10')}"])
    rc = main(["--config", str(REPO / "configs" / config), *TINY, *data, "--run_name=run",
               f"--trainer.default_root_dir={tmp_path / 'runs'}", f"--samples_root={tmp_path / 'samples'}"])
    assert rc == 0
    samples = tmp_path / "samples" / "run"
    assert (samples / "epoch_001.png").is_file()
    kernels = sorted(p.name for p in samples.glob("kernels_*.png"))
    wandb_media = tmp_path / "runs" / "wandb"
    if "idcgan" in config or "involution" in config:
        assert kernels == ["kernels_epoch_000.png", "kernels_epoch_001.png"]
        # 4 samples as [image | kernel map] pairs: 2 pairs (4 tiles) per row, 2 rows.
        size = yaml.safe_load((REPO / "configs" / config).read_text())["data"]["image_size"]
        image = Image.open(samples / kernels[1])
        assert image.mode == "RGB" and image.size == (4 * (size + 2) + 2, 2 * (size + 2) + 2)
        assert len(list(wandb_media.glob("offline-run-*/files/media/images/kernel_maps_*.png"))) == 2
    else:
        assert kernels == []


def resolved(config: str, capsys) -> dict:
    with pytest.raises(SystemExit) as info:
        main(["--config", str(REPO / "configs" / config), "--print_config"])
    assert info.value.code in (0, None)
    return yaml.safe_load(capsys.readouterr().out)


def flatten(tree, prefix=""):
    if isinstance(tree, dict):
        return {k: v for key, value in tree.items() for k, v in flatten(value, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): tree}


@pytest.mark.parametrize("dataset", ["calligraphy", "cifar10"])
def test_ablation_configs_differ_only_in_the_block(dataset, capsys):
    configs = {block: flatten(resolved(f"ablation/{dataset}_{block}.yaml", capsys))
               for block in ("none", "attention", "involution")}
    base = configs["none"]
    for block in ("attention", "involution"):
        other = configs[block]
        differing = {k for k in base.keys() | other.keys() if base.get(k, "<unset>") != other.get(k, "<unset>")}
        allowed = {k for k in differing
                   if k == "run_name" or k.endswith(".class_path") or k.rsplit(".", 1)[-1] in BLOCK_KEYS}
        assert differing == allowed, f"{block} differs from none beyond the block: {sorted(differing - allowed)}"
        assert {"model.generator.class_path", "model.discriminator.class_path", "run_name"} <= differing
    # The shared recipe really is shared: SAGAN's (hinge) on CIFAR-10; on calligraphy, where hinge
    # collapses, the WGAN-GP of the published calligraphy_sagan and calligraphy_idcgan.
    model = flatten(resolved(f"{dataset}_sagan.yaml" if dataset == "cifar10" else "published/calligraphy_sagan.yaml", capsys))
    assert base["model.loss"] == model["model.loss"] == ("hinge" if dataset == "cifar10" else "wgan-gp")
    assert base["model.betas"] == [0.0, 0.9]
    assert base["model.generator.init_args.spectral_norm"] and base["model.discriminator.init_args.spectral_norm"]


def test_wgan_gp_with_a_batchnorm_critic_is_refused_with_one_message(tmp_path, capsys):
    rc = main(["--config", str(REPO / "configs" / "cifar10_idcgan.yaml"), "--model.discriminator.init_args.batch_norm=true",
               f"--trainer.default_root_dir={tmp_path / 'runs'}", f"--samples_root={tmp_path / 'samples'}"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "error: loss 'wgan-gp' needs a discriminator without BatchNorm" in err
    assert not Path(tmp_path / "samples").exists()


def build(config: str):
    from igan.training.cli import IganCLI

    return IganCLI(args=["--config", str(REPO / "configs" / config), "--trainer.logger=false"], claim_run_folder=False).model


@pytest.mark.parametrize("config", ["calligraphy_sagan.yaml", "calligraphy_dcgan.yaml", "cifar10_idcgan.yaml", "ablation/cifar10_none.yaml",
                                    "ablation/calligraphy_involution.yaml"])
def test_spectral_norm_where_the_recipe_says(config):
    """Every backbone and attention conv is spectrally normalised; the involution's kernel branch is not
    (InvolutionGAN's ablation saw SN there collapse training)."""
    from torch import nn

    from igan.ops import Involution2d

    model = build(config)
    for net in (model.generator, model.discriminator):
        inside_involution = {id(m) for inv in net.modules() if isinstance(inv, Involution2d) for m in inv.modules()}
        convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        backbone = [m for m in convs if id(m) not in inside_involution]
        assert backbone and all(hasattr(m, "parametrizations") for m in backbone)
        assert not any(hasattr(m, "parametrizations") for m in convs if id(m) in inside_involution)


def test_dcgan_recipe_has_no_spectral_norm():
    from torch import nn

    model = build("cifar10_dcgan.yaml")
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert convs and not any(hasattr(m, "parametrizations") for m in convs)


def test_calligraphy_models_share_the_fast_recipe(capsys):
    """On calligraphy DCGAN, SAGAN and IDCGAN train identically: a comparison of them is one of blocks."""
    configs = {m: flatten(resolved(f"calligraphy_{m}.yaml", capsys)) for m in ("dcgan", "sagan", "idcgan")}
    recipe = ["model.loss", "model.gp_weight", "model.lr_g", "model.lr_d", "model.betas", "model.n_critic",
              "model.r1_gamma", "model.r1_interval", "model.ema_decay", "model.ema_rampup", "model.augment",
              "model.generator.init_args.latent_dim", "model.generator.init_args.spectral_norm",
              "model.discriminator.init_args.spectral_norm", "model.generator.init_args.batch_norm",
              "model.discriminator.init_args.batch_norm", "data.batch_size", "data.image_size"]
    shared = {k: configs["idcgan"][k] for k in recipe}
    for model in ("dcgan", "sagan"):
        assert {k: configs[model][k] for k in recipe} == shared, model
    assert shared["model.loss"] == "ns" and shared["model.r1_interval"] == 16 and shared["model.ema_rampup"] == 0.05
    assert shared["model.augment"] == "translation,cutout" and shared["model.discriminator.init_args.batch_norm"] is False


def test_published_calligraphy_sagan_and_idcgan_share_their_recipe(capsys):
    sagan = flatten(resolved("published/calligraphy_sagan.yaml", capsys))
    idcgan = flatten(resolved("published/calligraphy_idcgan.yaml", capsys))
    recipe = ["model.loss", "model.gp_weight", "model.lr_g", "model.lr_d", "model.betas", "model.ema_decay", "data.batch_size"]
    assert {k: sagan[k] for k in recipe} == {k: idcgan[k] for k in recipe}
    assert sagan["model.loss"] == "wgan-gp"


def make_command(target: str) -> list[str]:
    """The ``igan`` arguments ``make TARGET`` would run (``make -n``: nothing is installed or trained)."""
    import shlex
    import subprocess

    printed = subprocess.run(["make", "-n", "-s", target, "VENV=/nonexistent-venv"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout
    line = next(cmd for cmd in printed.replace("\\\n", " ").splitlines() if "/bin/igan " in cmd)
    return shlex.split(line)[2:]  # after ".../bin/igan train" (or study)


def test_make_demo_runs_the_idcgan_config_with_valid_overrides(capsys):
    args = make_command("demo")
    assert args[:2] == ["--config", "configs/calligraphy_idcgan.yaml"]
    with pytest.raises(SystemExit) as info:  # an unknown key or a bad value would stop here with the key named
        main([*[a.replace("configs/", f"{REPO}/configs/", 1) for a in args], "--print_config"])
    assert info.value.code in (0, None)
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["model"]["generator"]["init_args"]["width"] == 32 == config["model"]["discriminator"]["init_args"]["width"]
    assert config["trainer"]["max_time"] == "00:00:07:00" and config["data"]["image_size"] == 32
    assert config["metrics"]["every_n_epochs"] == 7


def test_make_compare_trains_each_config_at_width_32_with_a_time_budget(capsys, tmp_path):
    from igan.study.cli import build_parser
    from igan.study.plan import max_time, study_runs, training_args

    args, overrides = build_parser().parse_known_args(make_command("compare"))
    assert args.minutes > 0 and args.jobs == 2 and args.seeds == [0, 1, 2]
    runs = study_runs([f"{REPO}/{c}" for c in args.configs], args.seeds, args.epochs, args.minutes)
    assert sorted({r.label for r in runs}) == ["calligraphy_dcgan", "calligraphy_idcgan", "calligraphy_sagan"]
    for run in runs[:3]:  # one per config: an unknown key or a bad value in the overrides stops here
        with pytest.raises(SystemExit) as info:
            main([*training_args(run, tmp_path, "g", overrides), "--print_config"])
        assert info.value.code in (0, None)
        config = yaml.safe_load(capsys.readouterr().out)
        assert config["model"]["generator"]["init_args"]["width"] == 32 == config["model"]["discriminator"]["init_args"]["width"]
        assert config["trainer"]["max_time"] == max_time(args.minutes) and config["metrics"]["every_n_epochs"] == 10

