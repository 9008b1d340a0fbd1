"""Training throughput of the shipped GANs: the Lightning module against a bare PyTorch loop.

For each config and image size, one full training iteration (a D update, penalties included,
then a G update, batch of the config) is timed, all in one process on the current device (CUDA
when present, else CPU), on random batches already on the device:

* ``Lightning img/s``: real images per second through the real :class:`igan.gan.GAN` run by a
  ``lightning.Trainer`` (no logger, progress bar or checkpoints), from the start of one batch to
  the start of the next.
* ``bare img/s``: the same iteration as a plain PyTorch loop over copies of the same networks: the
  same loss-and-penalty code (:mod:`igan.gan.step`, which the module calls too) and Adam settings, with
  plain optimizer calls (G's parameters frozen during the D step and D's during the G step, as
  Lightning's ``toggle_optimizer`` does). One bare iteration
  runs after every Lightning batch (its time is taken out of the Lightning iteration), so both
  see the same machine state and drift cannot bias ``Lightning/bare``.
* where the time goes: ``D step`` (generating its fakes included) and ``G step`` as shares of the
  bare iteration; ``penalty``: the D step with its gradient penalty minus the D step without it,
  and ``blocks``: 1 - (the iteration with every attention/involution block replaced by the
  identity) / (the iteration), both from a second phase that runs these bare variants in turn;
  ``data``: the config's real DataLoader (calligraphy glyphs rendered under ``--data-root``) per
  batch, host-to-device copy included, as a share of (Lightning iteration + data); ``sys``: system
  CPU time / (user + system) over the timed rounds (``os.times``, CPU only), and the minor page
  faults per iteration; ``other load``: CPU time other processes took meanwhile, as a share of all
  cores (should be ~0: a row measured beside another job is not a measurement).
* with ``--fast-paths``: ``channels_last`` and ``compile``, the speed-up of the bare iteration with
  G, D and the batch in channels-last memory format, and with G and D through ``torch.compile``
  (as ``--model.channels_last`` / ``--model.compile`` train), over the plain one, run in turn with it.

When both ``calligraphy_sagan`` and ``calligraphy_dcgan`` are measured at 64 px, their bare loops
also run in turn, round by round, for the SAGAN target (SAGAN / DCGAN throughput): judged across
rows, minutes apart, it flipped with the machine's drift.

``--precision bf16-mixed`` times the Lightning module under ``--trainer.precision=bf16-mixed`` and
the bare loop under the same bfloat16 autocast (its point is a GPU: on CPU, bf16 kernels are slower).

Every time is the median over ``iters`` iterations (at least ``--iters``, more where an iteration
is short: ``--min-seconds`` per series) after ``--warmup``; a pilot before them absorbs the
involution kernels' compilation. ``Lightning/bare`` is the median over the rounds of the paired
ratio (bare time / Lightning time): 1 means no overhead, 0.95 a Lightning iteration 5% longer. ``middle half`` is the
first to third quartile of the rounds' ratios: how far this machine moves one row from round to round. ``peak MiB`` is the most memory one warm bare iteration holds
above what was held before it (weights, Adam state, the batch): CUDA's ``max_memory_allocated``,
or on CPU the peak of PyTorch's live allocations recorded by ``torch.profiler``
(``profile_memory=True``); not the resident set size, which the C allocator's caching blurs.
``GFLOP/iter`` counts one bare iteration (forward, backward and the penalty's double backward) with
``torch.utils.flop_counter`` (matmuls and convolutions; attention as its bmm's, not as the fused
kernel's padded work or the sliced double backward's recomputation; involution's multiply-adds,
elementwise, are not counted), and ``GFLOP/s``
divides it by the bare iteration's time: models that differ in work compare on this column.

    python benchmarks/train_throughput.py                      # 6 configs x 32 and 64 px
    python benchmarks/train_throughput.py --sizes 32 --iters 3 --warmup 1 --configs configs/calligraphy_dcgan.yaml
    python benchmarks/train_throughput.py --sizes 32 --width 32 --threads 1 --fast-paths --no-data   # make compare's runs
"""

from __future__ import annotations

import argparse
import copy
import importlib
import math
import os
import resource
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Optional

import torch
import yaml
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import lightning as L  # noqa: E402

from benchmarks.machine import describe, sync  # noqa: E402
from igan.gan import GAN  # noqa: E402
from igan.gan.ema import GeneratorEMA  # noqa: E402
from igan.gan.losses import LOSSES  # noqa: E402
from igan.gan.step import discriminator_terms, draw_fakes, generator_loss  # noqa: E402
from igan.models.blocks import SelfAttention2d  # noqa: E402
from igan.ops import Involution2d, involution_backend  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CONFIGS = [
    "configs/calligraphy_dcgan.yaml",
    "configs/calligraphy_sagan.yaml",
    "configs/calligraphy_idcgan.yaml",
    "configs/ablation/calligraphy_none.yaml",
    "configs/ablation/calligraphy_attention.yaml",
    "configs/ablation/calligraphy_involution.yaml",
]
BLOCKS = (SelfAttention2d, Involution2d)
#: Lightning's ``--trainer.precision`` values the benchmark can time (bf16-mixed: autocast to bfloat16).
PRECISIONS = ("32-true", "bf16-mixed")


# --------------------------------------------------------------------------- machine


class OtherLoad:
    """CPU time that other processes used while we measured, as a fraction of the machine's cores.

    (busy time of all CPUs in /proc/stat - this process's user + system time) / (wall time x cores):
    a benchmark shares the machine, and a row measured beside another job is not a measurement.
    """

    def __init__(self) -> None:
        self.start = self._snapshot()

    @staticmethod
    def _snapshot() -> tuple[float, float, float]:
        try:
            with open("/proc/stat") as f:
                ticks = [int(v) for v in f.readline().split()[1:9]]
            busy = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait
        except (OSError, ValueError):
            busy = float("nan")
        own = os.times()
        return busy, own.user + own.system, time.perf_counter()

    def fraction(self) -> float:
        busy, own, wall = self._snapshot()
        busy0, own0, wall0 = self.start
        return max(0.0, ((busy - busy0) - (own - own0)) / ((wall - wall0) * (os.cpu_count() or 1)))


# --------------------------------------------------------------------------- memory


def peak_iteration_mib(loop: "BareLoop", real: torch.Tensor, device: torch.device) -> float:
    """Peak of the memory one (warm) bare iteration allocates above what is held before it, in MiB.

    CUDA: ``max_memory_allocated``. CPU: the running sum of every allocation and free through
    PyTorch's CPU allocator, as ``torch.profiler`` records them with ``profile_memory=True``
    (Inductor's buffers for the compiled involution come from the same allocator).
    """
    if device.type == "cuda":
        sync(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        loop.iteration(real)
        sync(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        loop.iteration(real)
    events = []
    stack = list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        node = stack.pop()
        if node.tag == _EventType.Allocation:
            events.append((node.start_time_ns, node.extra_fields.alloc_size))
        stack.extend(node.children)
    level = peak = 0
    for _, size in sorted(events, key=lambda e: e[0]):
        level += size
        peak = max(peak, level)
    return peak / 2**20


MEMORY_METHOD = {
    "cuda": "CUDA max_memory_allocated",
    "cpu": "peak of PyTorch's live CPU allocations (torch.profiler, profile_memory=True)",
}


# --------------------------------------------------------------------------- models


def load_config(path: Path, width: Optional[int] = None) -> dict:
    """The config file as a dict; ``width`` replaces G's and D's (as ``--model.*.init_args.width``)."""
    with open(path) as f:
        config = yaml.safe_load(f)
    if width is not None:
        for net in ("generator", "discriminator"):
            config["model"][net].setdefault("init_args", {})["width"] = width
    return config


def _instantiate(spec: dict, **links) -> nn.Module:
    module, _, name = spec["class_path"].rpartition(".")
    return getattr(importlib.import_module(module), name)(**{**spec.get("init_args", {}), **links})


def build_gan(config: dict, image_size: int, seed: int = 0) -> GAN:
    """The GAN module of ``config`` at ``image_size``, as train_gan.py builds it (data.image_size and
    data.channels linked into both networks)."""
    torch.manual_seed(seed)
    model = dict(config["model"])
    links = {"image_size": image_size, "channels": config["data"]["channels"]}
    generator = _instantiate(model.pop("generator"), **links)
    discriminator = _instantiate(model.pop("discriminator"), **links)
    if "betas" in model:
        model["betas"] = tuple(model["betas"])
    return GAN(generator=generator, discriminator=discriminator, **model)


def without_blocks(net: nn.Module) -> nn.Module:
    """A copy of ``net`` with each attention/involution block replaced by the identity."""
    net = copy.deepcopy(net)
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, BLOCKS):
                setattr(parent, name, nn.Identity())
    return net


def block_names(net: nn.Module) -> list[str]:
    names = {"attention" if isinstance(m, SelfAttention2d) else "involution" for m in net.modules() if isinstance(m, BLOCKS)}
    return sorted(names)


# --------------------------------------------------------------------------- Lightning


class FixedBatches(torch.utils.data.Dataset):
    """``n`` times the same ready batch (DataLoader with ``batch_size=None``): no loading cost."""

    def __init__(self, batch: torch.Tensor, n: int) -> None:
        self.batch, self.n = batch, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.batch


class IterationTimer(L.Callback):
    """Times each Lightning iteration and, right after it, one iteration of each bare variant.

    Interleaved, all see the same machine state (caches, allocator, neighbours, clock), so drift
    cannot bias their ratios. A Lightning iteration is the time from the start of its batch to the
    start of the next, less the bare iterations run in between. Also the CPU times and page faults
    over the timed rounds (Lightning and bare iterations alike).
    """

    def __init__(self, warmup: int, iters: int, device: torch.device, variants: list[tuple["BareLoop", bool]],
                 real: torch.Tensor) -> None:
        self.warmup, self.iters, self.device = warmup, iters, device
        self.variants, self.real = variants, real
        self.starts: list[float] = []
        self.inserted: list[float] = []  # seconds of the bare iterations after each batch
        self.bare_times = [{"iter": [], "d": [], "g": []} for _ in variants]
        self.cpu = (0.0, 0.0)
        self.faults = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        sync(self.device)
        self.starts.append(time.perf_counter())
        if batch_idx == self.warmup:
            self._times = os.times()
            self._faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        elif batch_idx == self.warmup + self.iters:
            times = os.times()
            self.cpu = (times.user - self._times.user, times.system - self._times.system)
            self.faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - self._faults

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if batch_idx >= self.warmup + self.iters:  # the batch that only closes the last timed iteration
            return
        inserted = 0.0
        for (loop, penalty), record in zip(self.variants, self.bare_times):
            sync(self.device)
            start = time.perf_counter()
            d, g = loop.iteration(self.real, penalty)
            total = time.perf_counter() - start
            inserted += total
            if batch_idx >= self.warmup:
                for key, value in (("iter", total), ("d", d), ("g", g)):
                    record[key].append(value)
        self.inserted.append(inserted)

    def lightning_times(self) -> list[float]:
        deltas = [b - a - bare for a, b, bare in zip(self.starts, self.starts[1:], self.inserted)]
        return deltas[self.warmup:self.warmup + self.iters]

    def paired_ratios(self) -> list[float]:
        """Per round: bare iteration / the Lightning iteration just before it."""
        return [b / a for a, b in zip(self.lightning_times(), self.bare_times[0]["iter"])]

    def paired_ratio(self) -> float:
        """Median over the rounds of :meth:`paired_ratios`."""
        return statistics.median(self.paired_ratios())

    def bare_medians(self) -> list[dict[str, float]]:
        return [{key: statistics.median(values) for key, values in record.items()} for record in self.bare_times]


def time_lightning(gan: GAN, variants: list[tuple["BareLoop", bool]], real: torch.Tensor, warmup: int, iters: int,
                   device: torch.device, precision: str = "32-true") -> IterationTimer:
    timer = IterationTimer(warmup, iters, device, variants, real)
    n = warmup + iters + 1  # the last batch only closes the last timed iteration
    trainer = L.Trainer(
        accelerator=device.type, devices=1, max_epochs=1, limit_train_batches=n, logger=False, precision=precision,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, callbacks=[timer],
    )
    loader = torch.utils.data.DataLoader(FixedBatches(real, n), batch_size=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(gan, train_dataloaders=loader)
    return timer


# --------------------------------------------------------------------------- bare loop


class BareLoop:
    """The iteration of :meth:`igan.gan.GAN.training_step` (n_critic = 1) with plain optimizer calls.

    The losses and penalties (lazy R1 included) are :mod:`igan.gan.step`'s, as the module's, and the
    EMA of G is updated after every G step as there; only the plumbing differs.
    """

    def __init__(self, gan: GAN, generator: nn.Module, discriminator: nn.Module, device: torch.device,
                 channels_last: bool = False, compiled: bool = False, precision: str = "32-true") -> None:
        hp = gan.hparams
        if hp.n_critic != 1:
            raise ValueError("the bare loop times n_critic = 1, as the shipped configs train")
        self.hp, self.device = hp, device
        if precision not in PRECISIONS:
            raise ValueError(f"precision {precision!r}: choose one of {PRECISIONS}")
        # As Lightning's bf16-mixed plugin: the whole step (penalty and backward calls included) under autocast.
        self.bf16 = precision == "bf16-mixed"
        self.g, self.d = generator.to(device).train(), discriminator.to(device).train()
        self.channels_last = channels_last
        if channels_last:
            self.g.to(memory_format=torch.channels_last)
            self.d.to(memory_format=torch.channels_last)
        # As GAN(compile=True): compiled views for every forward but those a penalty differentiates twice.
        self.g_fast = torch.compile(self.g) if compiled else self.g
        self.d_fast = torch.compile(self.d) if compiled else self.d
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=hp.lr_g, betas=tuple(hp.betas))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=hp.lr_d, betas=tuple(hp.betas))
        self.loss_dis, self.loss_gen = LOSSES[hp.loss]
        self.policy = gan.augment_policy
        self.gan, self.d_updates = gan, 0
        self.ema = GeneratorEMA(self.g, hp.ema_decay, hp.get("ema_rampup")) if hp.ema_decay is not None else None
        self.latent_dim = gan.latent_dim

    def iteration(self, real: torch.Tensor, penalty: bool = True) -> tuple[float, float]:
        """One D and one G update; returns the seconds of the D step and of the G step."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            return self._iteration(real, penalty)

    def _iteration(self, real: torch.Tensor, penalty: bool) -> tuple[float, float]:
        device = self.device
        t0 = time.perf_counter()
        if self.channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        fake = draw_fakes(self.g_fast, real.shape[0], self.latent_dim, device)
        self.g.requires_grad_(False)
        # penalty=False: the same update without its penalties, for the ``penalty`` column.
        total, _ = discriminator_terms(self.d, real, fake, self.loss_dis, fast_discriminator=self.d_fast,
                                       **self.gan.discriminator_options(self.d_updates, penalty))
        self.d_updates += 1
        self.opt_d.zero_grad(set_to_none=True)
        total.backward()
        self.opt_d.step()
        self.g.requires_grad_(True)
        sync(device)
        t1 = time.perf_counter()
        self.d.requires_grad_(False)
        g_loss = generator_loss(self.g_fast, self.d_fast, real.shape[0], self.latent_dim, self.loss_gen,
                                augment_policy=self.policy, device=device)
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        if self.ema is not None:
            self.ema.update(self.g)
        self.d.requires_grad_(True)
        sync(device)
        return t1 - t0, time.perf_counter() - t1



class CountFlops(TorchDispatchMode):
    """Sums ``torch.utils.flop_counter``'s formulas over every op run inside it.

    ``FlopCounterMode`` itself cannot count a gradient penalty: its module tracker's hooks fail
    inside ``torch.autograd.grad``. Its formulas (``flop_registry``) are what this mode applies.
    """

    def __init__(self) -> None:
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.flops += formula(*args, **kwargs, out_val=out)
        return out


def iteration_gflop(loop: BareLoop, real: torch.Tensor) -> float:
    """GFLOPs of one iteration (the eager involution: compiled kernels cannot run under a dispatch
    mode). SelfAttention2d takes SDPA's math path under a dispatch mode, so attention counts as its
    bmm's: the useful work, not the padding of the fused kernels or the recomputation of the sliced
    double backward, which run in the timed iterations."""
    with involution_backend("eager"), CountFlops() as counter:
        loop.iteration(real)
    return counter.flops / 1e9


def rounds_in_turn(variants: list[tuple[BareLoop, bool]], real: torch.Tensor, warmup: int, iters: int) -> list[dict]:
    """Per (loop, penalty) variant, the seconds of each timed round's iteration, D step and G step;
    the variants run in turn within a round, so all see the same machine state."""
    times = [{"iter": [], "d": [], "g": []} for _ in variants]
    for i in range(warmup + iters):
        for (loop, penalty), record in zip(variants, times):
            sync(loop.device)
            start = time.perf_counter()
            d, g = loop.iteration(real, penalty)
            if i >= warmup:
                for key, value in (("iter", time.perf_counter() - start), ("d", d), ("g", g)):
                    record[key].append(value)
    return times


def interleaved(variants: list[tuple[BareLoop, bool]], real: torch.Tensor, warmup: int, iters: int) -> list[dict]:
    """Median iteration, D step and G step of each variant of :func:`rounds_in_turn`."""
    return [{key: statistics.median(values) for key, values in record.items()}
            for record in rounds_in_turn(variants, real, warmup, iters)]


def paired_models(config_paths: tuple[Path, Path], size: int, args, device: torch.device) -> float:
    """Throughput of the first config over the second's, their bare loops run in turn, round by round.

    Rows of the table are measured minutes apart, and a machine's speed can drift by more than the
    target's margin in that time: a cross-model target judged across rows flips with the drift.
    Here both see the same machine state: the median over the rounds of (second's iteration /
    first's iteration).
    """
    loops, real = [], None
    for path in config_paths:
        config = load_config(path, args.width)
        batch_size = args.batch_size or config["data"]["batch_size"]
        shape = (batch_size, config["data"]["channels"], size, size)
        if real is None:
            real = (torch.rand(*shape, generator=torch.Generator().manual_seed(1)) * 2 - 1).to(device)
        elif real.shape != shape:
            raise ValueError(f"{path}: batch {shape} differs from {config_paths[0]}'s {tuple(real.shape)}")
        gan = build_gan(config, size)
        loops.append(BareLoop(gan, gan.generator, gan.discriminator, device, precision=args.precision))
    for loop in loops:  # pilots: the involution kernels compile, the allocator warms
        loop.iteration(real)
    first, second = rounds_in_turn([(loop, True) for loop in loops], real, args.warmup, args.iters)
    return statistics.median(b / a for a, b in zip(first["iter"], second["iter"]))


def has_penalty(gan: GAN) -> bool:
    return gan.hparams.loss == "wgan-gp" or gan.hparams.r1_gamma > 0


# --------------------------------------------------------------------------- data


_data_cache: dict[tuple, float] = {}


def time_data(config: dict, image_size: int, batch_size: int, root: str, batches: int, device: torch.device) -> float:
    """Median seconds per batch of the config's real DataLoader (host-to-device copy included)."""
    from igan.data import GANDataModule

    data = {k: v for k, v in config["data"].items() if k not in ("root", "image_size", "batch_size")}
    key = (tuple(sorted((k, str(v)) for k, v in data.items())), image_size, batch_size, root)
    if key in _data_cache:
        return _data_cache[key]
    dm = GANDataModule(**{**data, "root": root, "image_size": image_size, "batch_size": batch_size})
    started = time.perf_counter()
    dm.prepare_data()
    dm.setup("fit")
    if time.perf_counter() - started > 5:
        print(f"(data: {config['data']['name']} at {image_size} px prepared in {time.perf_counter() - started:.0f} s)",
              file=sys.stderr)
    times = []
    while len(times) < batches + 1:
        it = iter(dm.train_dataloader())
        while len(times) < batches + 1:
            start = time.perf_counter()
            try:
                batch = next(it)
            except StopIteration:
                break
            batch.to(device, non_blocking=True)
            sync(device)
            times.append(time.perf_counter() - start)
    _data_cache[key] = statistics.median(times[1:])  # the first includes starting the iterator
    return _data_cache[key]


# --------------------------------------------------------------------------- main


def measure(config_path: Path, size: int, args, device: torch.device) -> dict:
    load = OtherLoad()
    config = load_config(config_path, args.width)
    batch_size = args.batch_size or config["data"]["batch_size"]
    channels = config["data"]["channels"]
    real = (torch.rand(batch_size, channels, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1).to(device)
    row: dict = {"config": str(config_path.relative_to(REPO) if config_path.is_relative_to(REPO) else config_path),
                 "px": size, "batch": batch_size}

    gan = build_gan(config, size)
    row["blocks_kind"] = "+".join(block_names(gan.generator)) or "-"
    bare = BareLoop(gan, copy.deepcopy(gan.generator), copy.deepcopy(gan.discriminator), device,
                    precision=args.precision)
    # A pilot (its first iteration compiles the involution kernels) sets the iterations: at least
    # --iters, and enough for --min-seconds per measured series where iterations are short.
    bare.iteration(real)
    sync(device)
    start = time.perf_counter()
    bare.iteration(real)
    sync(device)
    iters = max(args.iters, math.ceil(args.min_seconds / (time.perf_counter() - start)))
    row["iters"] = iters
    timer = time_lightning(gan, [(bare, True)], real, args.warmup, iters, device, args.precision)
    (result,) = timer.bare_medians()
    row.update(lightning=statistics.median(timer.lightning_times()), bare=result["iter"], d=result["d"], g=result["g"],
               ratio=timer.paired_ratio(), ratio_spread=middle_half(timer.paired_ratios()),
               peak_mib=peak_iteration_mib(bare, real, device),
               gflop=iteration_gflop(bare, real))
    user, system = timer.cpu
    row["sys"] = system / (user + system) if device.type == "cpu" and user + system > 0 else None
    row["faults"] = timer.faults / (2 * iters)  # per iteration, Lightning or bare

    # Where the time goes: bare variants in turn, round by round: as is, without the penalty, without the blocks.
    variants = [(bare, True)]
    if has_penalty(gan):
        variants.append((bare, False))
    no_blocks = fast = None
    if row["blocks_kind"] != "-" and not args.no_block_timing:
        no_blocks = BareLoop(gan, without_blocks(gan.generator), without_blocks(gan.discriminator), device,
                             precision=args.precision)
        variants.append((no_blocks, True))
    if args.fast_paths:
        # Same networks, fast paths on; two pilot iterations compile (no-grad and grad variants).
        fast = {name: BareLoop(gan, copy.deepcopy(gan.generator), copy.deepcopy(gan.discriminator), device,
                               precision=args.precision, **kwargs)
                for name, kwargs in (("channels_last", {"channels_last": True}), ("compile", {"compiled": True}))}
        for loop in fast.values():
            for _ in range(2):
                loop.iteration(real)
            variants.append((loop, True))
    if len(variants) > 1:
        results = interleaved(variants, real, args.warmup, iters)
        row["share_base"] = results[0]["iter"]
        by_loop = {id(loop): result for (loop, penalty), result in zip(variants, results) if penalty}
        if has_penalty(gan):
            row["penalty"] = max(0.0, results[0]["d"] - results[1]["d"])
        if no_blocks is not None:
            row["no_blocks"] = by_loop[id(no_blocks)]["iter"]
        for name, loop in (fast or {}).items():
            row[name] = results[0]["iter"] / by_loop[id(loop)]["iter"]
    if not args.no_data:
        row["data"] = time_data(config, size, batch_size, args.data_root, args.data_batches, device)
    row["other_load"] = load.fraction()
    del gan, bare, variants, timer, fast, no_blocks
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return row


def middle_half(values: list[float]) -> tuple[float, float]:
    """First and third quartile: the range of the middle half of the rounds (one value: itself).

    Shown beside the median ratio so that a row's distance from a target can be read against the
    round-to-round spread of this machine."""
    if len(values) < 2:
        return values[0], values[0]
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


def pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


COLUMNS = ["config", "px", "batch", "iters", "Lightning img/s", "bare img/s", "Lightning/bare", "middle half", "peak MiB", "GFLOP/iter", "GFLOP/s", "D step", "G step",
           "penalty", "blocks", "data ms/batch", "data", "sys", "faults/iter", "other load", "channels_last", "compile"]


def format_row(r: dict) -> list[str]:
    it = r["bare"]
    data = r.get("data")
    return [
        r["config"], str(r["px"]), str(r["batch"]), str(r["iters"]),
        f"{r['batch'] / r['lightning']:.1f}", f"{r['batch'] / r['bare']:.1f}", f"{r['ratio']:.3f}",
        "{:.3f}-{:.3f}".format(*r["ratio_spread"]),
        f"{r['peak_mib']:.0f}", f"{r['gflop']:.1f}", f"{r['gflop'] / it:.1f}",
        pct(r["d"] / it), pct(r["g"] / it),
        pct(r["penalty"] / r["share_base"]) if "penalty" in r else "-",
        f"{pct(1 - r['no_blocks'] / r['share_base'])} {r['blocks_kind']}" if "no_blocks" in r else "-",
        f"{1e3 * data:.1f}" if data is not None else "-",
        pct(data / (r["lightning"] + data)) if data is not None else "-",
        pct(r["sys"]), f"{r['faults']:.0f}", pct(r["other_load"]),
        *(f"{r[name]:.2f}x" if name in r else "-" for name in ("channels_last", "compile")),
    ]


def check_targets(rows: list[dict], device: torch.device, sagan_vs_dcgan: float | None = None) -> list[str]:
    """The issue's targets, each with its verdict on this run. ``sagan_vs_dcgan``: from
    :func:`paired_models` at 64 px, which then decides the SAGAN target instead of the rows."""
    lines = []
    busy = [f"{r['config']} {r['px']} px ({100 * r['other_load']:.0f}%)" for r in rows if r["other_load"] > 0.05]
    if busy:
        lines.append("- WARNING: other processes used the CPU during " + ", ".join(busy) + ": rerun those on an idle machine")

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    ratios = [(r["config"], r["px"], r["ratio"], r["ratio_spread"]) for r in rows]
    worst = min(ratios, key=lambda x: x[2])
    lines.append(f"- Lightning within 5% of the bare loop (Lightning/bare >= 0.95 in every row): {verdict(worst[2] >= 0.95)} "
                 f"(lowest {worst[2]:.3f}, {worst[0]} {worst[1]} px, its rounds' middle half "
                 f"{worst[3][0]:.3f}-{worst[3][1]:.3f}; median of the rows {statistics.median(x[2] for x in ratios):.3f}; "
                 f"rows whose middle half reaches 0.95: {sum(x[3][1] >= 0.95 for x in ratios)} of {len(ratios)})")
    # Model against model: paired, from the blocks column (the same model without its blocks, run in
    # turn with it: the ablation's none, or DCGAN's backbone with SAGAN's spectral norm), and across
    # rows (measured minutes apart, so machine drift enters).
    by = {(Path(r["config"]).name, r["px"]): r for r in rows}
    for px in sorted({r["px"] for r in rows}):
        inv, none = by.get(("calligraphy_involution.yaml", px)), by.get(("calligraphy_none.yaml", px))
        paired = inv["no_blocks"] / inv["share_base"] if inv and "no_blocks" in inv else None
        across = none["lightning"] / inv["lightning"] if inv and none else None
        if paired is not None or across is not None:
            ok = (paired if paired is not None else across) >= 0.95
            lines.append(f"- ablation involution >= 0.95x ablation none at {px} px: {verdict(ok)} ("
                         + ", ".join(f"{name} {value:.3f}x" for name, value in (("paired", paired), ("across rows", across))
                                     if value is not None) + ")")
    sagan, dcgan = by.get(("calligraphy_sagan.yaml", 64)), by.get(("calligraphy_dcgan.yaml", 64))
    if sagan:
        paired = sagan["no_blocks"] / sagan["share_base"] if "no_blocks" in sagan else None
        across = dcgan["lightning"] / sagan["lightning"] if dcgan else None
        if paired is not None or across is not None or sagan_vs_dcgan is not None:
            decisive = next(v for v in (sagan_vs_dcgan, across, paired) if v is not None)
            lines.append(f"- SAGAN >= 1/2 of DCGAN's throughput at 64 px ({device.type}): {verdict(decisive >= 0.5)} ("
                         + ", ".join(f"{name} {value:.3f}x" for name, value in (
                             ("paired with DCGAN, run in turn", sagan_vs_dcgan), ("across rows", across),
                             ("paired with its attention removed", paired)) if value is not None) + ")")
        if dcgan:
            work = sagan["gflop"] / dcgan["gflop"]
            lines.append(f"  SAGAN's iteration counts {work:.1f}x DCGAN's FLOPs: at equal FLOP rates it would run "
                         f"{1 / work:.3f}x DCGAN's throughput; it runs at {sagan['gflop'] / sagan['bare']:.1f} GFLOP/s, "
                         f"DCGAN at {dcgan['gflop'] / dcgan['bare']:.1f}")
    shares = [(r["config"], r["px"], r["data"] / (r["lightning"] + r["data"])) for r in rows if r.get("data") is not None]
    if shares:
        top = max(shares, key=lambda x: x[2])
        lines.append(f"- data pipeline < 5% of the iteration: {verdict(top[2] < 0.05)} (highest {100 * top[2]:.1f}%, "
                     f"{top[0]} {top[1]} px)")
    sys_shares = [(r["config"], r["px"], r["sys"]) for r in rows if r.get("sys") is not None]
    if sys_shares:
        top = max(sys_shares, key=lambda x: x[2])
        lines.append(f"- system time < 10% on CPU: {verdict(top[2] < 0.10)} (highest {100 * top[2]:.1f}%, {top[0]} {top[1]} px)")
    return lines


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", nargs="+", default=CONFIGS, help="config files (default: the 3 models and the 3 ablations)")
    ap.add_argument("--sizes", nargs="+", type=int, default=[32, 64], help="image sides (default: 32 64)")
    ap.add_argument("--iters", type=int, default=6, help="timed iterations per measurement (median; default 6)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed iterations before them (default 1)")
    ap.add_argument("--min-seconds", type=float, default=3.0,
                    help="more iterations than --iters where needed for this many seconds per series (default 3)")
    ap.add_argument("--batch-size", type=int, default=None, help="default: the config's data.batch_size")
    ap.add_argument("--width", type=int, default=None, help="G and D width (default: the config's; make compare: 32)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    ap.add_argument("--precision", default="32-true", choices=PRECISIONS,
                    help="as --trainer.precision; bf16-mixed runs Lightning and the bare loop under bfloat16 autocast")
    ap.add_argument("--threads", type=int, default=None, help="torch threads on CPU (default: torch's)")
    ap.add_argument("--data-root", default="data", help="where the real data is (rendered if missing; default data)")
    ap.add_argument("--data-batches", type=int, default=20, help="real DataLoader batches timed (default 20)")
    ap.add_argument("--no-data", action="store_true", help="skip the real DataLoader")
    ap.add_argument("--no-block-timing", action="store_true", help="skip the run without attention/involution blocks")
    ap.add_argument("--fast-paths", action="store_true",
                    help="also time the bare iteration with channels_last and with torch.compile (speed-up columns; "
                         "compiling takes minutes per row on CPU)")
    args = ap.parse_args(argv)
    if args.iters < 1 or args.warmup < 0:
        ap.error("--iters must be >= 1 and --warmup >= 0")

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device available")
    if args.threads:
        torch.set_num_threads(args.threads)
    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    print(describe(device))
    print(f"Median of max(--iters {args.iters}, {args.min_seconds:g} s worth) iterations after {args.warmup} "
          f"warm-up; img/s = real images per second (one D and one G update per batch); precision {args.precision}.")
    print()
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(COLUMNS) - 1)) + "|")
    rows = []
    started = time.perf_counter()
    for config in args.configs:
        path = Path(config) if Path(config).is_file() else REPO / config
        for size in args.sizes:
            row = measure(path, size, args, device)
            rows.append(row)
            print("| " + " | ".join(format_row(row)) + " |", flush=True)
    print()
    print(f"Lightning/bare: median over the rounds of bare time / Lightning time (1 = no overhead); middle half: "
          f"its rounds' first to third quartile. "
          f"Peak MiB: {MEMORY_METHOD[device.type]} during one bare iteration, above what was held before it. "
          f"D step (its fakes included), G step, penalty and blocks: shares of the bare iteration; data: "
          f"of (Lightning iteration + one real batch); sys: system / (user + system) CPU time; channels_last, compile: "
          f"speed-up of the bare iteration over the plain one (with --fast-paths). "
          f"Total {time.perf_counter() - started:.0f} s.")
    names = {Path(c).name: (Path(c) if Path(c).is_file() else REPO / c) for c in args.configs}
    sagan_vs_dcgan = None
    if 64 in args.sizes and {"calligraphy_sagan.yaml", "calligraphy_dcgan.yaml"} <= names.keys():
        pair_started = time.perf_counter()
        sagan_vs_dcgan = paired_models((names["calligraphy_sagan.yaml"], names["calligraphy_dcgan.yaml"]), 64, args,
                                       device)
        print(f"SAGAN / DCGAN throughput at 64 px, their bare loops run in turn ({args.iters} rounds after "
              f"{args.warmup} warm-up): {sagan_vs_dcgan:.3f}x ({time.perf_counter() - pair_started:.0f} s).")
    print()
    print("Targets:")
    for line in check_targets(rows, device, sagan_vs_dcgan):
        print(line)


if __name__ == "__main__":
    main()
