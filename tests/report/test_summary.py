"""The summary command: its table of the shipped configs, FLOPs of the ablation blocks, and a config only built."""

from conftest import REPO

from igan.report.summary import main


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
