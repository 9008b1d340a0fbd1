"""``igan summary [--config configs/X.yaml ...]``: parameters and FLOPs of G and D per config.

One row per config (all shipped configs by default); :mod:`igan.models.summary` says how they are
counted. The same numbers are stored in each training run's W&B config.
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path
from typing import Optional

from igan.errors import ArgumentParser, IganError, UsageError
from igan.models.summary import model_summary

REPO = Path(__file__).resolve().parents[2]


def summarize_config(config: Path) -> dict[str, int]:
    """Build the networks a config names (as train_gan.py would) and summarise them."""
    from igan.training.cli import IganCLI

    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:  # no trainer banners in the table
            logger.setLevel(logging.WARNING)
        with warnings.catch_warnings():  # "args given while sys.argv has arguments": intended here
            warnings.simplefilter("ignore", UserWarning)
            cli = IganCLI(args=["--config", str(config), "--trainer.logger=false", "--trainer.enable_progress_bar=false"],
                          claim_run_folder=False)
    finally:  # a library call leaves the caller's logging as it found it
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
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
    parser = ArgumentParser(prog="igan summary", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", action="append", type=Path,
                        help="config file (repeatable); default: every shipped config")
    try:
        args = parser.parse_args(argv)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
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
