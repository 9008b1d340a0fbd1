"""The GAN module's training step, run by a real Lightning Trainer, against a hand computation.

Beside each run the test replays the same updates by hand: deep copies of the initial networks,
the noise the module drew (recorded by a forward pre-hook on its generator), the interpolation
weights of the gradient penalty (recorded from ``torch.rand``), every loss and penalty written out
from its textbook formula (not taken from :mod:`igan.gan.losses`), ``torch.autograd`` and
``torch.optim.Adam``. Parameters after every batch, update counts and the logged epoch means must
match. Learning rates, betas and penalty weights are unusual and distinct so that a swap shows.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Optional

import lightning as L
import pytest
from conftest import RecordingLogger
import torch
from torch.utils.data import DataLoader, TensorDataset

from igan.gan import GAN
from igan.models import DCGANDiscriminator, DCGANGenerator

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*does not have many workers:UserWarning",
    "ignore:The number of training batches:UserWarning",
    "ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated",
)

B, LATENT, SIZE = 4, 8, 16
LR_G, LR_D, BETAS = 3e-3, 7e-3, (0.4, 0.95)
GP_WEIGHT, R1_GAMMA = 2.5, 1.5
TOL = dict(rtol=1e-5, atol=1e-7)


def tiny_nets(seed: int = 0):
    torch.manual_seed(seed)
    generator = DCGANGenerator(image_size=SIZE, channels=1, latent_dim=LATENT, width=4, batch_norm=False)
    discriminator = DCGANDiscriminator(image_size=SIZE, channels=1, width=4, batch_norm=False)
    return generator, discriminator


def images(batches: int) -> torch.Tensor:
    return torch.rand(batches * B, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1)) * 2 - 1


def params(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.named_parameters()}


class Snapshots(L.Callback):
    """G's and D's parameters after every training batch."""

    def __init__(self) -> None:
        self.g: list[dict] = []
        self.d: list[dict] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.g.append(params(pl_module.generator))
        self.d.append(params(pl_module.discriminator))


@dataclass
class Run:
    module: GAN
    trainer: L.Trainer
    g0: torch.nn.Module
    d0: torch.nn.Module
    data: torch.Tensor
    zs: list = field(default_factory=list)
    alphas: list = field(default_factory=list)
    snapshots: Snapshots = field(default_factory=Snapshots)


def train(loss: str, batches: int, n_critic: int = 1, r1_gamma: float = 0.0, seed: int = 0) -> Run:
    """Fit a GAN of tiny nets for one epoch of ``batches`` batches, recording its noise."""
    generator, discriminator = tiny_nets(seed)
    g0, d0 = copy.deepcopy(generator), copy.deepcopy(discriminator)
    module = GAN(generator=generator, discriminator=discriminator, loss=loss, lr_g=LR_G, lr_d=LR_D, betas=BETAS,
                 n_critic=n_critic, gp_weight=GP_WEIGHT, r1_gamma=r1_gamma)
    data = images(batches)
    run = Run(module, None, g0, d0, data)
    module.generator.register_forward_pre_hook(lambda m, args: run.zs.append(args[0].detach().clone()))
    torch_rand = torch.rand

    def recording_rand(*args, **kwargs):
        out = torch_rand(*args, **kwargs)
        if tuple(out.shape) == (B, 1, 1, 1):  # the gradient penalty's interpolation weights
            run.alphas.append(out.detach().clone())
        return out

    run.trainer = L.Trainer(accelerator="cpu", max_epochs=1, limit_train_batches=batches, logger=False,
                            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                            callbacks=[run.snapshots])
    loader = DataLoader(TensorDataset(data), batch_size=B, shuffle=False)
    torch.manual_seed(seed)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch, "rand", recording_rand)
        run.trainer.fit(module, loader)
    return run


def textbook_d_loss(loss: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    if loss == "ns":  # -log D(x) - log(1 - D(G(z))), D = sigmoid of the logit
        return -torch.log(torch.sigmoid(real)).mean() - torch.log(1 - torch.sigmoid(fake)).mean()
    if loss == "hinge":
        return torch.clamp(1 - real, min=0).mean() + torch.clamp(1 + fake, min=0).mean()
    return fake.mean() - real.mean()  # Wasserstein critic


def textbook_g_loss(loss: str, fake: torch.Tensor) -> torch.Tensor:
    return -torch.log(torch.sigmoid(fake)).mean() if loss == "ns" else -fake.mean()


def replay(run: Run, loss: str, batches: int, n_critic: int = 1, r1_gamma: float = 0.0):
    """The same training by hand: per-batch parameters of G and D, and per-batch logged terms."""
    g, d = copy.deepcopy(run.g0), copy.deepcopy(run.d0)
    opt_g = torch.optim.Adam(g.parameters(), lr=LR_G, betas=BETAS)
    opt_d = torch.optim.Adam(d.parameters(), lr=LR_D, betas=BETAS)
    zs, alphas = iter(run.zs), iter(run.alphas)
    g_states, d_states, logs = [], [], []
    for i in range(batches):
        real = run.data[i * B:(i + 1) * B].clone()
        with torch.no_grad():
            fake = g(next(zs))
        # Discriminator update.
        real.requires_grad_(r1_gamma > 0)
        s_real, s_fake = d(real), d(fake)
        d_loss = textbook_d_loss(loss, s_real, s_fake)
        prob = torch.sigmoid if loss == "ns" else (lambda s: s)
        log = {"d_loss": d_loss.item(), "d_real": prob(s_real).mean().item(), "d_fake": prob(s_fake).mean().item()}
        total = d_loss
        if loss == "wgan-gp":
            alpha = next(alphas)
            x_hat = (alpha * real.detach() + (1 - alpha) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(d(x_hat).sum(), x_hat, create_graph=True)
            gp = ((grad.reshape(B, -1).pow(2).sum(1).sqrt() - 1) ** 2).mean()
            log["gp"] = gp.item()
            total = total + GP_WEIGHT * gp
        if r1_gamma > 0:
            (grad,) = torch.autograd.grad(s_real.sum(), real, create_graph=True)
            r1 = 0.5 * grad.reshape(B, -1).pow(2).sum(1).mean()
            log["r1"] = r1.item()
            total = total + r1_gamma * r1
        opt_d.zero_grad()
        total.backward()
        opt_d.step()
        # Generator update every n_critic batches, with fresh noise, against the updated D.
        if (i + 1) % n_critic == 0:
            g_loss = textbook_g_loss(loss, d(g(next(zs))))
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            log["g_loss"] = g_loss.item()
        g_states.append(params(g))
        d_states.append(params(d))
        logs.append(log)
    return g_states, d_states, logs


def assert_same(actual: dict, expected: dict, what: str) -> None:
    assert actual.keys() == expected.keys()
    for name in expected:
        assert torch.allclose(actual[name], expected[name], **TOL), (
            f"{what}: {name} differs from the hand computation by "
            f"{(actual[name] - expected[name]).abs().max().item():.3g}")


CASES = [("ns", 0.0), ("hinge", 0.0), ("wgan-gp", 0.0), ("ns", R1_GAMMA), ("wgan-gp", R1_GAMMA)]


@pytest.fixture(scope="module", params=CASES, ids=[f"{loss}-r1_{gamma}" for loss, gamma in CASES])
def two_batches(request):
    loss, r1_gamma = request.param
    run = train(loss, batches=2, r1_gamma=r1_gamma)
    return loss, r1_gamma, run, replay(run, loss, batches=2, r1_gamma=r1_gamma)


def test_parameters_match_a_hand_computed_adam_step_for_every_loss(two_batches):
    loss, r1_gamma, run, (g_states, d_states, _) = two_batches
    assert len(run.snapshots.g) == len(run.snapshots.d) == 2
    for i in range(2):
        assert_same(run.snapshots.d[i], d_states[i], f"D after batch {i} ({loss}, r1={r1_gamma})")
        assert_same(run.snapshots.g[i], g_states[i], f"G after batch {i} ({loss}, r1={r1_gamma})")
    assert len(run.zs) == 4  # per batch: one z for D's fakes, one fresh z for the G step
    assert not torch.equal(run.zs[0], run.zs[1])
    assert len(run.alphas) == (2 if loss == "wgan-gp" else 0)  # one draw per D step, none in G steps
    assert int(run.module.d_updates) == 2 and run.trainer.global_step == 2


def test_logged_terms_are_the_hand_computed_ones(two_batches):
    loss, r1_gamma, run, (_, _, logs) = two_batches
    means = run.module.epoch_means()
    expected_keys = {"d_loss", "d_real", "d_fake", "g_loss"} | ({"gp"} if loss == "wgan-gp" else set())
    expected_keys |= {"r1"} if r1_gamma > 0 else set()
    assert set(means) == expected_keys
    for key in expected_keys:
        expected = sum(log[key] for log in logs) / len(logs)
        assert means[key] == pytest.approx(expected, rel=1e-5, abs=1e-7), key


def test_logged_terms_of_a_one_batch_epoch():
    run = train("wgan-gp", batches=1, r1_gamma=R1_GAMMA)
    (_, _, (log,)) = replay(run, "wgan-gp", batches=1, r1_gamma=R1_GAMMA)
    assert len(run.zs) == 2 and len(run.alphas) == 1
    means = run.module.epoch_means()
    assert set(means) == {"d_loss", "d_real", "d_fake", "gp", "r1", "g_loss"}
    for key, value in log.items():
        assert means[key] == pytest.approx(value, rel=1e-5, abs=1e-7), key
    # Penalties matter: the critic loss without them would be a different number.
    assert log["gp"] > 1e-3 and log["r1"] > 0


@pytest.fixture(scope="module")
def n_critic_run():
    run = train("wgan-gp", batches=4, n_critic=2)
    return run, replay(run, "wgan-gp", batches=4, n_critic=2)


def test_n_critic_counts_updates(n_critic_run):
    run, _ = n_critic_run
    assert int(run.module.d_updates) == 4
    assert run.trainer.global_step == 2  # generator updates only, not the steps of both optimizers
    opt_g, opt_d = run.trainer.optimizers
    assert {int(s["step"]) for s in opt_g.state.values()} == {2}
    assert {int(s["step"]) for s in opt_d.state.values()} == {4}
    assert len(run.zs) == 4 + 2 and len(run.alphas) == 4


def test_d_only_batches_leave_g_alone_and_move_d(n_critic_run):
    run, _ = n_critic_run
    assert len(run.snapshots.g) == len(run.snapshots.d) == 4  # one snapshot per batch
    g_before, d_before = params(run.g0), params(run.d0)
    for i, (g_after, d_after) in enumerate(zip(run.snapshots.g, run.snapshots.d)):
        g_step = (i + 1) % 2 == 0
        for name in g_after:  # every G parameter gets a gradient: it moves exactly on G steps
            assert torch.equal(g_after[name], g_before[name]) != g_step, f"batch {i}: G.{name}"
        for name in d_after:  # D moves on every batch (a Wasserstein critic's last bias has no gradient)
            if name.endswith("weight"):
                assert not torch.equal(d_after[name], d_before[name]), f"batch {i}: D.{name} did not move"
        g_before, d_before = g_after, d_after


def test_n_critic_parameters_match_the_hand_computation(n_critic_run):
    run, (g_states, d_states, _) = n_critic_run
    assert len(run.snapshots.g) == len(run.snapshots.d) == 4
    for i in range(4):
        assert_same(run.snapshots.d[i], d_states[i], f"D after batch {i}")
        assert_same(run.snapshots.g[i], g_states[i], f"G after batch {i}")


def test_logged_g_loss_is_the_mean_over_generator_updates(n_critic_run):
    """With n_critic = 2 the epoch's g_loss is the mean of its 2 generator losses, not half of it."""
    run, (_, _, logs) = n_critic_run
    g_losses = [log["g_loss"] for log in logs if "g_loss" in log]
    assert len(g_losses) == 2
    means = run.module.epoch_means()
    assert means["g_loss"] == pytest.approx(sum(g_losses) / 2, rel=1e-5)
    assert means["d_loss"] == pytest.approx(sum(log["d_loss"] for log in logs) / 4, rel=1e-5, abs=1e-7)


def test_penalties_refuse_a_batch_norm_discriminator():
    """R1 and WGAN-GP treat each sample's gradient on its own; BatchNorm couples the samples."""
    g, _ = tiny_nets()
    d = DCGANDiscriminator(image_size=16, channels=1, width=4, batch_norm=True)
    for kwargs in ({"loss": "wgan-gp"}, {"loss": "hinge", "r1_gamma": 1.0}):
        with pytest.raises(ValueError, match="needs a discriminator without BatchNorm"):
            GAN(g, d, **kwargs)
    GAN(g, d, loss="hinge")  # no penalty: BatchNorm is fine


def test_r1_reuses_the_discriminators_forward_on_the_real_batch():
    """A D-only batch with R1 runs D twice (real, fake), not a third time for the penalty."""
    g, d = tiny_nets()
    forwards = []
    d.register_forward_hook(lambda *_: forwards.append(1))
    module = GAN(g, d, loss="hinge", r1_gamma=R1_GAMMA, n_critic=2)
    trainer = L.Trainer(accelerator="cpu", max_steps=-1, limit_train_batches=1, max_epochs=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, DataLoader(TensorDataset(images(1)), batch_size=B))
    assert int(module.d_updates) == 1 and trainer.global_step == 0  # a D step, no G step
    assert len(forwards) == 2


def fit_logging(batches: int, log_every: int, n_critic: int = 1, stop_after: Optional[int] = None, epochs: int = 1):
    """Fit with a recording logger; returns ((epoch, batch) pairs on which the module logged, the
    metrics rows the logger received, every batch's ``step_losses`` as floats, in order)."""
    generator, discriminator = tiny_nets()
    module = GAN(generator=generator, discriminator=discriminator, loss="wgan-gp", lr_g=LR_G, lr_d=LR_D, betas=BETAS,
                 n_critic=n_critic)
    calls, seen = [], []
    log_dict = module.log_dict
    module.log_dict = lambda values, **kwargs: (
        calls.append((module.current_epoch, module.trainer.fit_loop.epoch_loop.batch_idx)), log_dict(values, **kwargs))

    class EveryStep(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            seen.append({k: float(v) for k, v in pl_module.step_losses.items()})
            if batch_idx == stop_after:  # as Lightning's Timer (--trainer.max_time) or EarlyStopping do
                trainer.should_stop = True

    logger = RecordingLogger()
    trainer = L.Trainer(accelerator="cpu", max_epochs=epochs, limit_train_batches=batches, logger=logger,
                        log_every_n_steps=log_every, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[EveryStep()])
    trainer.fit(module, DataLoader(TensorDataset(images(batches)), batch_size=B))
    return calls, [metrics for _, metrics in logger.rows if "train/d_loss" in metrics], seen


def test_step_values_are_logged_on_the_loggers_steps_only_and_kept_for_every_step():
    """``self.log`` runs only on the batches whose step values Lightning writes to the loggers
    (every ``log_every_n_steps``): the logger gets the same points as if every batch logged,
    while ``step_losses`` holds each batch's own terms for the divergence guard."""
    calls, step_rows, seen = fit_logging(batches=7, log_every=3)
    assert calls == [(0, 2), (0, 5)]  # batches 3 and 6 of 7
    assert [row["train/d_loss"] for row in step_rows] == pytest.approx([seen[2]["train/d_loss"], seen[5]["train/d_loss"]])
    assert len(seen) == 7 and len({row["train/d_loss"] for row in seen}) == 7  # each batch's own value
    assert set(seen[0]) == {"train/d_loss", "train/d_real", "train/d_fake", "train/gp", "train/g_loss"}


def test_a_logged_step_without_a_generator_update_carries_the_latest_g_loss():
    """n_critic = 3: G steps on batches 3, 6, 9, 12; the loggers' steps are batches 4, 8 and 12."""
    calls, step_rows, seen = fit_logging(batches=12, log_every=4, n_critic=3)
    assert calls == [(0, 3), (0, 7), (0, 11)]
    assert [row["train/g_loss"] for row in step_rows] == pytest.approx([seen[i]["train/g_loss"] for i in (2, 5, 11)])
    assert [row["train/d_loss"] for row in step_rows] == pytest.approx([seen[i]["train/d_loss"] for i in (3, 7, 11)])


def test_the_step_a_callback_stops_on_is_logged_with_its_own_values():
    """A stop (max_time, early stopping) makes Lightning write that batch's values whatever its step."""
    calls, step_rows, seen = fit_logging(batches=9, log_every=3, stop_after=4)
    assert calls == [(0, 2), (0, 4)] and len(seen) == 5
    assert [row["train/d_loss"] for row in step_rows] == pytest.approx([seen[2]["train/d_loss"], seen[4]["train/d_loss"]])


def test_logging_steps_run_on_across_epochs_and_an_epoch_starts_without_old_values():
    """Lightning counts logging steps over the whole run (not per epoch) and forgets step values at
    an epoch's end: with 5 batches per epoch and n_critic = 3, batches 3, 6 and 9 of the run log;
    the first of epoch 2 has had no G step in that epoch, so it carries no g_loss."""
    calls, step_rows, seen = fit_logging(batches=5, log_every=3, n_critic=3, epochs=2)
    assert calls == [(0, 2), (1, 0), (1, 3)] and len(seen) == 10
    assert [row["train/d_loss"] for row in step_rows] == pytest.approx([seen[i]["train/d_loss"] for i in (2, 5, 8)])
    assert "train/g_loss" not in step_rows[1]
    assert step_rows[2]["train/g_loss"] == pytest.approx(seen[7]["train/g_loss"])
