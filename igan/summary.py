"""Model summary: parameters and FLOPs of G and D, like the tables of the GAN and involution papers.

``python -m igan.summary [--config configs/X.yaml ...]`` prints one row per config (all shipped
configs by default). The same numbers are stored in each training run's W&B config.

FLOPs count one multiply-add as two FLOPs, as ``torch.utils.flop_counter`` does. That counter
sees convolutions, matrix products and attention; the involution multiply-add has no aten op
of its own, so its ``2 * C * K*K * H_out * W_out`` FLOPs per image are added from the layer's
shapes (its kernel-generating 1x1 convs are counted by the counter). Norms and activations are
left out, as in the papers.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path
from typing import Optional

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from igan.errors import IganError
from igan.ops import Involution2d, involution_backend

REPO = Path(__file__).resolve().parent.parent


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def flops_per_sample(net: nn.Module, example: torch.Tensor) -> int:
    """FLOPs of ``net(example)`` for a batch of one (eval mode: no BN or spectral-norm updates)."""
    involution_flops = []

    def count(module: Involution2d, _inputs, output: torch.Tensor) -> None:
        _, channels, h, w = output.shape
        involution_flops.append(2 * channels * module.kernel_size**2 * h * w)

    handles = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, Involution2d)]
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad(), involution_backend("eager"), FlopCounterMode(display=False) as counter:
            net(example)
    finally:
        net.train(was_training)
        for handle in handles:
            handle.remove()
    return counter.get_total_flops() + sum(involution_flops)


def model_summary(generator: nn.Module, discriminator: nn.Module) -> dict[str, int]:
    """Parameters of G and D, FLOPs per generated image and per D forward of one image."""
    device = next(generator.parameters()).device
    z = torch.zeros(1, generator.latent_dim, device=device)
    image = torch.zeros(1, generator.channels, generator.image_size, generator.image_size, device=device)
    return {
        "params_G": count_parameters(generator),
        "params_D": count_parameters(discriminator),
        "flops_G_per_image": flops_per_sample(generator, z),
        "flops_D_per_image": flops_per_sample(discriminator, image),
    }


def summarize_config(config: Path) -> dict[str, int]:
    """Build the networks a config names (as train_gan.py would) and summarise them."""
    from igan.cli import IganCLI

    for name in ("lightning.pytorch", "lightning.fabric"):  # no trainer banners in the table
        logging.getLogger(name).setLevel(logging.WARNING)
    with warnings.catch_warnings():  # "args given while sys.argv has arguments": intended here
        warnings.simplefilter("ignore", UserWarning)
        cli = IganCLI(args=["--config", str(config), "--trainer.logger=false", "--trainer.enable_progress_bar=false"])
    return model_summary(cli.model.generator, cli.model.discriminator)


def shipped_configs() -> list[Path]:
    return sorted((REPO / "configs").glob("*.yaml")) + sorted((REPO / "configs" / "ablation").glob("*.yaml"))


def format_table(rows: dict[str, dict[str, int]]) -> str:
    lines = [
        "| config | G params (M) | D params (M) | G GFLOPs / image | D GFLOPs / image |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, s in rows.items():
        lines.append(
            f"| {name} | {s['params_G'] / 1e6:.2f} | {s['params_D'] / 1e6:.2f} | "
            f"{s['flops_G_per_image'] / 1e9:.3f} | {s['flops_D_per_image'] / 1e9:.3f} |"
        )
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m igan.summary", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", action="append", type=Path,
                        help="config file (repeatable); default: every shipped config")
    args = parser.parse_args(argv)
    configs = args.config or shipped_configs()
    missing = [str(c) for c in configs if not c.is_file()]
    if missing:
        print(f"error: config not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    rows = {}
    for config in configs:
        try:
            name = str(config.resolve().relative_to(REPO / "configs"))
        except ValueError:
            name = str(config)
        try:
            rows[name] = summarize_config(config)
        except (IganError, ValueError) as err:
            print(f"error: {config}: {err}", file=sys.stderr)
            return 2
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
