#!/usr/bin/env python
"""Fingerprint what every shipped config trains in a few batches, to show a refactor changed nothing.

    python benchmarks/behaviour_snapshot.py --out before.json [--repo DIR] [--batches 3]
    python benchmarks/behaviour_snapshot.py --out after.json --compare before.json

Each config in ``configs/`` (GAN, ablation and translation) trains ``--batches`` iterations of batch 8
at 32 px (translation at its own size) through ``train_gan.py`` of ``--repo``, with evaluation and
W&B off; the fingerprint is the sha256 of metrics.csv's loss columns and of every grid PNG the run
wrote. CIFAR-10 configs train on a tiny CIFAR-10 written in the real pickle format (no download).
``--compare`` prints each config as same/different and exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOSS_COLUMNS = ("epoch", "global_step", "d_loss", "g_loss", "d_real", "d_fake", "gp", "r1", "l1", "adv")

# Runs train_gan.py of the repo in this process, with torchvision's CIFAR-10 checksums pointed at
# the tiny data set (its files are not the real ones).
RUNNER = r"""
import hashlib, runpy, sys
from pathlib import Path
from torchvision.datasets import CIFAR10
root = Path(sys.argv[1]) / "cifar-10-batches-py"
md5 = lambda p: hashlib.md5(p.read_bytes()).hexdigest()
CIFAR10.train_list = [[f"data_batch_{i}", md5(root / f"data_batch_{i}")] for i in range(1, 6)]
CIFAR10.test_list = [["test_batch", md5(root / "test_batch")]]
CIFAR10.meta = dict(CIFAR10.meta, md5=md5(root / "batches.meta"))
sys.argv = ["train_gan.py", *sys.argv[2:]]
runpy.run_path("train_gan.py", run_name="__main__")
"""


def tiny_cifar10(root: Path, repo: Path) -> Path:
    sys.path.insert(0, str(repo / "tests"))
    from conftest import write_tiny_cifar10

    write_tiny_cifar10(root)
    return root


def fingerprint(run: Path, samples: Path) -> dict:
    with open(run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    losses = [{k: r[k] for k in LOSS_COLUMNS if k in r} for r in rows]
    grids = {str(p.relative_to(samples)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(samples.rglob("*.png"))}
    return {"losses": hashlib.sha256(json.dumps(losses).encode()).hexdigest(), "rows": len(rows), "grids": grids}


def snapshot(repo: Path, batches: int, data_root: str) -> dict:
    configs = sorted(p.relative_to(repo) for p in (repo / "configs").rglob("*.yaml"))
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        cifar = tiny_cifar10(Path(tmp) / "cifar", repo)
        for config in configs:
            name = config.with_suffix("").as_posix().replace("/", "-")
            text = config.read_text() if config.is_absolute() else (repo / config).read_text()
            translation = "task: translation" in text
            args = [f"--config={config}", "--trainer.max_epochs=1", f"--trainer.limit_train_batches={batches}",
                    "--data.batch_size=8", "--trainer.logger=false", "--trainer.enable_progress_bar=false",
                    "--metrics.every_n_epochs=0", f"--run_name={name}",
                    f"--trainer.default_root_dir={tmp}/runs", f"--samples_root={tmp}/samples"]
            if translation:
                args += ["--samples.num_chars=4", f"--data.root={data_root}"]
            else:
                args += ["--data.image_size=32", "--samples.num=16"]
                args += [f"--data.root={cifar}"] if "cifar10" in name else [f"--data.root={data_root}"]
            proc = subprocess.run([sys.executable, "-c", RUNNER, str(cifar), *args], cwd=repo,
                                  capture_output=True, text=True, env={**os.environ, "WANDB_MODE": "disabled"})
            if proc.returncode != 0:
                result[name] = {"error": proc.stderr.strip().splitlines()[-1:] or ["exit %d" % proc.returncode]}
            else:
                result[name] = fingerprint(Path(tmp) / "runs" / name, Path(tmp) / "samples" / name)
            print(f"{name}: {'error' if 'error' in result[name] else result[name]['losses'][:12]}", flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout whose train_gan.py runs (default this one)")
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--data-root", default="data", help="where the glyph cache lives (default data/)")
    parser.add_argument("--compare", type=Path, default=None, help="an earlier --out file to compare against")
    args = parser.parse_args()
    result = snapshot(args.repo.resolve(), args.batches, args.data_root)
    args.out.write_text(json.dumps(result, indent=1, sort_keys=True))
    if args.compare is None:
        return 0
    before = json.loads(args.compare.read_text())
    differ = 0
    for name in sorted(set(before) | set(result)):
        same = before.get(name) == result.get(name) and "error" not in (result.get(name) or {})
        differ += not same
        print(f"{'same     ' if same else 'DIFFERENT'} {name}")
    print(f"{len(result) - differ} of {len(set(before) | set(result))} configs identical")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
