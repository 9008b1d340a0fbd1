"""The throughput benchmark runs end to end and reports every column and target it promises.

Its numbers are not checked here (timings live in the benchmark, never in tests); what is checked
is that the table is complete and that the bare loop really is the module's iteration.
"""

from __future__ import annotations

import argparse
import copy
import sys
import warnings
from pathlib import Path

import lightning as L
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks import train_throughput as bench  # noqa: E402
from benchmarks.machine import describe  # noqa: E402


def test_describe_names_cpu_threads_and_versions():
    text = describe(torch.device("cpu"))
    assert "CPU:" in text and "torch threads" in text and torch.__version__ in text


def test_one_row_per_config_and_size_with_targets(capsys):
    bench.main(["--configs", "configs/calligraphy_dcgan.yaml", "configs/calligraphy_idcgan.yaml", "--sizes", "32",
                "--iters", "1", "--warmup", "0", "--min-seconds", "0", "--no-data", "--threads", "1"])
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("| config"))
    assert header.count("|") == len(bench.COLUMNS) + 1
    rows = [line for line in out.splitlines() if line.startswith("| configs/")]
    assert [row.split("|")[1].strip() for row in rows] == ["configs/calligraphy_dcgan.yaml", "configs/calligraphy_idcgan.yaml"]
    idcgan = [cell.strip() for cell in rows[1].split("|")[1:-1]]
    assert idcgan[bench.COLUMNS.index("penalty")].endswith("%")  # WGAN-GP: the penalty's share is measured
    assert idcgan[bench.COLUMNS.index("blocks")].endswith("involution")
    dcgan = [cell.strip() for cell in rows[0].split("|")[1:-1]]
    gflop = [float(r[bench.COLUMNS.index("GFLOP/iter")]) for r in (dcgan, idcgan)]
    assert 0 < gflop[0] < gflop[1]  # IDCGAN's iteration adds the penalty's double backward (and its blocks)
    assert "Lightning within 5% of the bare loop" in out and "system time < 10% on CPU" in out
    ratio = float(idcgan[bench.COLUMNS.index("Lightning/bare")])
    low, high = map(float, idcgan[bench.COLUMNS.index("middle half")].split("-"))
    assert low == high == ratio  # one timed round: its middle half is itself


def test_middle_half_is_the_quartile_range():
    assert bench.middle_half([1.0, 2.0, 3.0, 4.0, 5.0]) == (2.0, 4.0)
    assert bench.middle_half([0.9]) == (0.9, 0.9)
    low, high = bench.middle_half([0.99, 0.90, 1.05, 0.97, 1.01, 0.93])
    assert 0.90 < low < 0.97 < high < 1.05


def test_width_replaces_both_networks_width_as_the_cli_override_does():
    config = bench.load_config(REPO / "configs/calligraphy_idcgan.yaml", width=16)
    assert [config["model"][net]["init_args"]["width"] for net in ("generator", "discriminator")] == [16, 16]
    narrow = bench.build_gan(config, 32)
    wide = bench.build_gan(bench.load_config(REPO / "configs/calligraphy_idcgan.yaml"), 32)  # width 64
    for net in ("generator", "discriminator"):
        sizes = [sum(p.numel() for p in getattr(gan, net).parameters()) for gan in (narrow, wide)]
        assert sizes[0] < sizes[1] / 3, net  # a quarter of the weights, roughly: width squared


def test_bare_loop_matches_the_module_update():
    """One bare iteration from the module's own networks moves D and G as the module's Adam would:
    the same losses and optimiser settings, so timing it is timing the same work."""
    config = bench.load_config(REPO / "configs/published/calligraphy_dcgan.yaml")
    gan = bench.build_gan(config, 32)
    loop = bench.BareLoop(gan, gan.generator, gan.discriminator, torch.device("cpu"))
    before = [p.detach().clone() for p in (*gan.generator.parameters(), *gan.discriminator.parameters())]
    d_seconds, g_seconds = loop.iteration(torch.rand(8, 1, 32, 32) * 2 - 1)
    after = list((*gan.generator.parameters(), *gan.discriminator.parameters()))
    assert d_seconds > 0 and g_seconds > 0
    assert all(not torch.equal(a, b) for a, b in zip(before, after) if a.numel() > 1)
    assert loop.opt_d.param_groups[0]["lr"] == gan.hparams.lr_d and loop.opt_g.param_groups[0]["betas"] == (0.5, 0.999)


def test_bare_loop_runs_the_shared_recipes_ema_and_lazy_r1(monkeypatch):
    """The shared recipe's step: R1 on D updates 0, 16, 32, ... weighted by 16, and one EMA update per G step."""
    config = bench.load_config(REPO / "configs/calligraphy_dcgan.yaml")
    gan = bench.build_gan(config, 16)
    loop = bench.BareLoop(gan, gan.generator, gan.discriminator, torch.device("cpu"))
    seen = []
    real_terms = bench.discriminator_terms
    monkeypatch.setattr(bench, "discriminator_terms", lambda *a, **k: seen.append(k["r1_gamma"]) or real_terms(*a, **k))
    for _ in range(17):
        loop.iteration(torch.rand(4, 1, 16, 16) * 2 - 1)
    gamma = gan.hparams.r1_gamma * 16
    assert seen == [gamma] + [0.0] * 15 + [gamma]
    assert int(loop.ema.num_updates) == 17


def test_bf16_mixed_bare_loop_runs_under_autocast_as_lightning_does():
    """``--precision bf16-mixed``: the bare loop's convolutions run in bfloat16 (as under Lightning's
    bf16-mixed plugin) while the weights and their Adam updates stay float32."""
    config = bench.load_config(REPO / "configs/published/calligraphy_dcgan.yaml")
    gan = bench.build_gan(config, 32)
    loop = bench.BareLoop(gan, gan.generator, gan.discriminator, torch.device("cpu"), precision="bf16-mixed")
    seen = []
    conv = next(m for m in gan.discriminator.modules() if isinstance(m, torch.nn.Conv2d))
    conv.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    before = conv.weight.detach().clone()
    loop.iteration(torch.rand(4, 1, 32, 32) * 2 - 1)
    assert seen and set(seen) == {torch.bfloat16}
    assert conv.weight.dtype == torch.float32 and not torch.equal(conv.weight, before)
    seen.clear()
    bench.BareLoop(gan, gan.generator, gan.discriminator, torch.device("cpu")).iteration(torch.rand(4, 1, 32, 32) * 2 - 1)
    assert seen and set(seen) == {torch.float32}  # the default, 32-true, stays out of autocast
    with pytest.raises(ValueError, match="'16-mixed'.*bf16-mixed"):
        bench.BareLoop(gan, gan.generator, gan.discriminator, torch.device("cpu"), precision="16-mixed")


def _row(config: str, px: int, seconds: float, gflop: float) -> dict:
    return {"config": config, "px": px, "ratio": 1.0, "ratio_spread": (1.0, 1.0), "other_load": 0.0,
            "lightning": seconds, "bare": seconds, "gflop": gflop}


def test_sagan_target_is_judged_by_the_run_in_turn_when_there_is_one():
    rows = [_row("configs/calligraphy_dcgan.yaml", 64, 1.0, 156.0), _row("configs/calligraphy_sagan.yaml", 64, 1.7, 276.0)]
    across = bench.check_targets(rows, torch.device("cpu"))
    assert any(line.startswith("- SAGAN >= 1/2") and ": met (across rows 0.588x" in line for line in across)
    paired = bench.check_targets(rows, torch.device("cpu"), sagan_vs_dcgan=0.41)
    line = next(line for line in paired if line.startswith("- SAGAN >= 1/2"))
    assert ": NOT met (paired with DCGAN, run in turn 0.410x, across rows 0.588x" in line


def test_paired_models_gives_the_first_configs_throughput_over_the_seconds():
    """DCGAN's backbone under BCE against the same backbone under WGAN-GP, whose penalty adds a
    double backward through D: the first runs faster, so the ratio is above 1 (below it if the
    order were swapped)."""
    args = argparse.Namespace(batch_size=16, width=None, warmup=0, iters=3, precision="32-true")
    configs = (REPO / "configs/published/calligraphy_dcgan.yaml", REPO / "configs/ablation/calligraphy_none.yaml")
    assert bench.paired_models(configs, 32, args, torch.device("cpu")) > 1.1


class _SeedEachBatch(L.Callback):
    """Seeds the global RNG before every batch, as the bare loop's caller does before every iteration."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        torch.manual_seed(100 + batch_idx)


@pytest.mark.parametrize("settings", [
    {"loss": "ns", "augment": "translation,cutout"},
    {"loss": "wgan-gp", "r1_gamma": 1.5, "augment": "translation"},
], ids=["ns-augment", "wgan-gp-r1-augment"])
def test_bare_loop_and_module_train_identical_weights(settings):
    """Three iterations of the bare loop and three batches of the module through a real Trainer,
    from the same networks, batch and noise: the same weights bit for bit, so the benchmark's
    bare loop is the module's step (penalties and augmentation included), not a copy of it."""
    from igan.models import DCGANDiscriminator, DCGANGenerator

    torch.manual_seed(0)
    generator = DCGANGenerator(image_size=16, channels=1, latent_dim=8, width=4, batch_norm=False)
    discriminator = DCGANDiscriminator(image_size=16, channels=1, width=4, batch_norm=False)
    g0 = {k: v.detach().clone() for k, v in generator.named_parameters()}
    d0 = {k: v.detach().clone() for k, v in discriminator.named_parameters()}
    gan = bench.GAN(generator, discriminator, lr_g=3e-3, lr_d=7e-3, **settings)
    loop = bench.BareLoop(gan, copy.deepcopy(generator), copy.deepcopy(discriminator), torch.device("cpu"))
    real = torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    for i in range(3):
        torch.manual_seed(100 + i)
        loop.iteration(real)
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, limit_train_batches=3, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[_SeedEachBatch()])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(gan, torch.utils.data.DataLoader(bench.FixedBatches(real, 3), batch_size=None))
    assert int(gan.d_updates) == 3 and trainer.global_step == 3
    for role, bare, before in (("generator", loop.g, g0), ("discriminator", loop.d, d0)):
        module_params = dict(getattr(gan, role).named_parameters())
        for name, param in bare.named_parameters():
            assert torch.equal(param, module_params[name]), f"{role}.{name} differs between the bare loop and the module"
            if name.endswith("weight"):
                assert not torch.equal(param, before[name]), f"{role}.{name} did not train"
