"""``trainer.precision`` chosen from the CPU's flags, and the pieces bf16 autocast must leave in float32."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from igan.gan.ema import GeneratorEMA
from igan.gan.losses import gradient_penalty, r1_penalty
from igan.models import IDCGANGenerator, SAGANDiscriminator
from igan.training.precision import cpu_flags, cpu_has_native_bf16, resolve_precision


def test_cpu_flags_reads_the_flags_line(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: X\nflags\t\t: fpu sse avx2 amx_bf16 avx512_bf16\n\nprocessor\t: 1\n")
    assert cpu_flags(info) == {"fpu", "sse", "avx2", "amx_bf16", "avx512_bf16"}
    assert cpu_flags(tmp_path / "missing") == set()


def test_auto_is_float32_without_native_bf16_and_explicit_values_pass_through():
    avx2_only = {"avx", "avx2", "fma", "avx512f"}  # AVX-512 alone emulates bf16: slower than float32
    assert not cpu_has_native_bf16(avx2_only)
    assert resolve_precision("auto", accelerator="cpu", flags=avx2_only) == "32-true"
    for given in ("32-true", "bf16-mixed", "16-mixed", 32, None):
        assert resolve_precision(given, accelerator="cpu", flags=avx2_only) == given


def test_auto_takes_bf16_where_the_cpu_and_onednn_have_it(monkeypatch):
    amx = {"avx512f", "amx_bf16", "amx_tile"}
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
    assert resolve_precision("auto", accelerator="cpu", flags=amx) == "bf16-mixed"
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False, raising=False)
    assert resolve_precision("auto", accelerator="cpu", flags=amx) == "32-true"  # a torch whose oneDNN cannot


def test_this_machine_gets_what_its_flags_say():
    native = bool({"amx_bf16", "avx512_bf16"} & cpu_flags())
    expected = "bf16-mixed" if native and torch.ops.mkldnn._is_mkldnn_bf16_supported() else "32-true"
    assert resolve_precision("auto", accelerator="cpu") == expected


def test_spectral_norm_power_iteration_stays_float32_under_bf16_autocast():
    """The parametrization's weight, u and sigma are computed in float32; only the conv runs in bf16."""
    torch.manual_seed(0)
    conv = spectral_norm(nn.Conv2d(4, 8, 3)).train()
    reference = spectral_norm(nn.Conv2d(4, 8, 3)).train()
    reference.load_state_dict(conv.state_dict())
    x = torch.randn(2, 4, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = conv(x)  # one power iteration (training mode)
    reference(x)
    conv.eval(), reference.eval()  # reading the weight in eval mode runs no further iteration
    weight = conv.weight
    assert out.dtype == torch.bfloat16
    sn = conv.parametrizations.weight[0]
    assert weight.dtype == sn._u.dtype == sn._v.dtype == torch.float32
    # The power iteration under autocast gave exactly the float32 one's vectors and weight.
    assert torch.equal(sn._u, reference.parametrizations.weight[0]._u)
    assert torch.equal(weight, reference.weight)


def test_penalties_come_out_float32_under_bf16_autocast():
    torch.manual_seed(0)
    d = SAGANDiscriminator(image_size=16, channels=1, width=8, attention_resolutions=[8])
    real, fake = torch.rand(4, 1, 16, 16) * 2 - 1, torch.rand(4, 1, 16, 16) * 2 - 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        gp = gradient_penalty(d, real, fake)
        x = real.clone().requires_grad_(True)
        r1 = r1_penalty(d(x), x)
    assert gp.dtype == r1.dtype == torch.float32
    assert torch.isfinite(gp) and torch.isfinite(r1) and r1 > 0


def test_ema_average_stays_float32_after_a_bf16_step():
    torch.manual_seed(0)
    g = IDCGANGenerator(image_size=16, channels=1, latent_dim=8, width=8)
    ema = GeneratorEMA(g, decay=0.9)
    before = {k: v.detach().clone() for k, v in g.named_parameters()}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = g(torch.randn(4, 8)).float().square().mean()
    loss.backward()
    with torch.no_grad():
        for p in g.parameters():
            if p.grad is not None:
                p.sub_(0.1 * p.grad)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ema.update(g)
    averaged = dict(ema.module.named_parameters())
    for k, live in g.named_parameters():
        assert averaged[k].dtype == torch.float32
        torch.testing.assert_close(averaged[k], 0.9 * before[k] + 0.1 * live.detach(), rtol=1e-6, atol=1e-7)


def test_the_cli_resolves_auto_and_an_unset_precision_and_records_it(tiny_cifar10, tmp_path):
    import yaml
    from conftest import REPO

    from igan.training.cli import main

    expected = resolve_precision("auto", accelerator="cpu")
    tiny = ["--model.generator.init_args.width=8", "--model.discriminator.init_args.width=8",
            "--trainer.max_epochs=1", "--trainer.limit_train_batches=1", "--data.batch_size=4",
            "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false", "--metrics.every_n_epochs=0",
            "--samples.num=4", "--trainer.logger=false", "--trainer.accelerator=cpu", f"--data.root={tiny_cifar10}",
            f"--trainer.default_root_dir={tmp_path / 'runs'}", f"--samples_root={tmp_path / 'samples'}"]
    for name, extra in (("auto", ["--trainer.precision", "auto"]), ("unset", []), ("given", ["--trainer.precision=bf16-mixed"])):
        assert main(["--config", str(REPO / "configs" / "cifar10_dcgan.yaml"), *tiny, f"--run_name={name}", *extra]) == 0
        saved = yaml.safe_load((tmp_path / "runs" / name / "config.yaml").read_text())
        assert saved["trainer"]["precision"] == (expected if name != "given" else "bf16-mixed"), name
