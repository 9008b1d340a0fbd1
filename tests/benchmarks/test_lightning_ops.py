"""The Lightning-vs-bare operator comparison runs, and the module runs the bare loop's heavy operators."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks import lightning_ops as bench  # noqa: E402

HEAVY = ("aten::mkldnn_convolution", "aten::convolution_backward", "aten::bmm",
         "aten::_scaled_dot_product_flash_attention_for_cpu", "Optimizer.step#Adam.step")


def test_the_module_runs_the_same_heavy_operators_as_the_bare_loop():
    """Same networks, losses, penalty and optimisers: every convolution, attention product and Adam
    step is called as often under Lightning as in the bare loop (else the benchmark compares two
    different iterations)."""
    # The published recipe's WGAN-GP runs the attention products through bmm on every D update.
    ops = bench.compare(REPO / "configs" / "published" / "calligraphy_sagan.yaml", size=16, iters=2, warmup=1)
    for name in HEAVY:
        assert ops["lightning"][name][1] == ops["bare"][name][1] > 0, name


def test_the_lightning_profile_holds_the_modules_steps_and_the_bare_one_none(monkeypatch):
    import torch

    from igan.gan import GAN

    step = GAN.training_step

    def traced(self, *args, **kwargs):
        with torch.profiler.record_function("GAN.training_step"):
            return step(self, *args, **kwargs)

    monkeypatch.setattr(GAN, "training_step", traced)
    ops = bench.compare(REPO / "configs" / "calligraphy_dcgan.yaml", size=16, iters=2, warmup=1)
    assert ops["lightning"]["GAN.training_step"][1] == 2 and "GAN.training_step" not in ops["bare"]


def test_cli_prints_totals_and_differences(capsys):
    bench.main(["--config", str(REPO / "configs" / "calligraphy_dcgan.yaml"), "--size", "16", "--iters", "1",
                "--warmup", "1", "--top", "3"])
    out = capsys.readouterr().out
    assert "operator self time Lightning" in out and "Lightning/bare" in out
    assert "operators with different call counts" in out
    assert len(out.split("largest time differences (Lightning - bare):")[1].strip().splitlines()) == 3
