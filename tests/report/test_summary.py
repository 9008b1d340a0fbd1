"""Model summary: parameter counts and FLOPs against hand-computed values, and the CLI table."""

import torch
from conftest import REPO
from torch import nn

from igan.models.summary import count_parameters, flops_per_sample
from igan.ops import Involution2d
from igan.report.summary import main


def test_conv_flops_are_two_per_multiply_add():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    assert flops_per_sample(conv, torch.zeros(1, 3, 8, 8)) == 2 * 8 * 3 * 9 * 64
    assert count_parameters(conv) == 8 * 3 * 9 + 8


def test_involution_flops_add_the_multiply_add_to_its_kernel_convs():
    layer = Involution2d(16, kernel_size=3, group_channels=16, reduction_ratio=4, norm=None)
    involution = 2 * 16 * 9 * 64  # C * K*K multiply-adds per output pixel
    reduce, span = 2 * 16 * 4 * 64, 2 * 4 * 9 * 64  # 1x1 convs C -> C/r -> K*K*G
    assert flops_per_sample(layer, torch.zeros(1, 16, 8, 8)) == involution + reduce + span


def test_flop_count_leaves_batchnorm_and_spectral_norm_state_alone():
    net = nn.Sequential(nn.utils.parametrizations.spectral_norm(nn.Conv2d(3, 4, 3)), nn.BatchNorm2d(4)).train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    flops_per_sample(net, torch.randn(1, 3, 8, 8))
    assert net.training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_cli_table_for_the_three_models(capsys):
    configs = [str(REPO / "configs" / f"cifar10_{m}.yaml") for m in ("dcgan", "sagan", "idcgan")]
    assert main([arg for c in configs for arg in ("--config", c)]) == 0
    rows = [line.split("|")[1:-1] for line in capsys.readouterr().out.splitlines()[2:]]
    table = {r[0].strip(): [float(v) for v in r[1:]] for r in rows}
    assert list(table) == ["cifar10_dcgan.yaml", "cifar10_sagan.yaml", "cifar10_idcgan.yaml"]
    dcgan, sagan, idcgan = table.values()
    assert all(v > 0 for v in dcgan)
    assert sagan[2] > idcgan[2] > dcgan[2]  # G FLOPs: attention > involution > none at 16x16


def test_ablation_involution_adds_exactly_one_layer_of_flops():
    """cifar10 ablation: same z and widths; IDCGAN adds one Involution2d(64, K 3, r 2, 4 groups) at 16x16."""
    from igan.report.summary import summarize_config

    none = summarize_config(REPO / "configs" / "ablation" / "cifar10_none.yaml")
    inv = summarize_config(REPO / "configs" / "ablation" / "cifar10_involution.yaml")
    pixels = 16 * 16
    layer = 2 * 64 * 9 * pixels + 2 * 64 * 32 * pixels + 2 * 32 * 36 * pixels  # multiply-add + two 1x1 convs
    assert inv["flops_G_per_image"] - none["flops_G_per_image"] == layer
    assert inv["flops_D_per_image"] - none["flops_D_per_image"] == layer


def test_ablation_attention_adds_the_official_blocks_flops():
    """cifar10 ablation: SAGAN's block at 16x16, C 64: q/k 1x1 convs to 8 channels, values to 32
    pooled to 8x8 keys, the output conv back to 64, and the two matrix products over 256 x 64."""
    from igan.report.summary import summarize_config

    none = summarize_config(REPO / "configs" / "ablation" / "cifar10_none.yaml")
    attention = summarize_config(REPO / "configs" / "ablation" / "cifar10_attention.yaml")
    queries, keys = 16 * 16, 8 * 8
    convs = 2 * queries * (64 * 8 + 64 * 8 + 64 * 32 + 32 * 64)
    products = 2 * queries * keys * 8 + 2 * queries * keys * 32  # q k^T, then the attended values
    assert attention["flops_G_per_image"] - none["flops_G_per_image"] == convs + products
    assert attention["flops_D_per_image"] - none["flops_D_per_image"] == convs + products


def test_cli_missing_config_is_one_message(capsys):
    assert main(["--config", "no/such.yaml"]) == 2
    assert "error: config not found: no/such.yaml" in capsys.readouterr().err


def test_summary_ignores_a_trained_and_locked_run_folder(tmp_path, monkeypatch):
    """Summarising a config only builds its networks: a run of that config, finished or still training
    (its folder locked), neither stops the summary nor is touched by it."""
    from igan.report.summary import summarize_config
    from igan.training.run_folder import RunFolderLock

    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "runs" / "cifar10-ablation-none-s0"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"a finished run")
    lock = RunFolderLock(run_dir)
    lock.acquire()
    try:
        summary = summarize_config(REPO / "configs" / "ablation" / "cifar10_none.yaml")
    finally:
        lock.release()
    assert summary["params_G"] > 0
    assert (run_dir / "checkpoints" / "last.ckpt").read_bytes() == b"a finished run"


def test_summary_leaves_lightning_logging_as_it_was():
    """Summarising silences Lightning's banners only while it builds the config."""
    import logging

    from igan.report.summary import summarize_config

    logger = logging.getLogger("lightning.pytorch")
    before = logger.level
    summarize_config(REPO / "configs" / "ablation" / "cifar10_none.yaml")
    assert logger.level == before
