"""The Metrics callback on a real Lightning Trainer, with a tiny generator and a toy Inception."""

from __future__ import annotations

import json
import logging
import time
import warnings
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import WandbLogger
from metrics_toys import TinyData, TinyGAN, toy_extractor

from igan.metrics import callback as callback_module
from igan.metrics import inception
from igan.metrics.callback import Metrics
from igan.metrics.inception import ImageFeatures
from igan.metrics.real_reference import REFERENCE_FILE, read_real_reference


class RecordingRun:
    """Stands in for a wandb Run: records what is logged."""

    id = "recording"

    def __init__(self) -> None:
        self.logged: list[dict] = []
        self.summary: dict = {}
        self.config = type("Config", (), {"update": lambda *a, **k: None})()

    def log(self, data: dict) -> None:
        self.logged.append(data)

    def define_metric(self, *args, **kwargs) -> None:
        pass


@pytest.fixture
def extractor(monkeypatch):
    """A toy extractor handed to every Metrics callback instead of Inception."""
    shared = toy_extractor(chunk_size=8)
    monkeypatch.setattr(callback_module, "load_inception", lambda weights=None, chunk_size=50: shared)
    return shared


def fit(tmp_path, callbacks, datamodule=None, max_epochs=3, logger=False, seed=0) -> tuple[L.Trainer, TinyGAN]:
    L.seed_everything(seed, verbose=False)
    model = TinyGAN()
    trainer = L.Trainer(
        max_epochs=max_epochs, accelerator="cpu", devices=1, logger=logger, callbacks=callbacks,
        enable_checkpointing=any(isinstance(c, ModelCheckpoint) for c in callbacks),
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path, log_every_n_steps=1,
    )
    trainer.fit(model, datamodule=datamodule or TinyData(cache_dir=str(tmp_path / "fid_stats"), key="tiny"))
    return trainer, model


def wandb_logger(tmp_path) -> tuple[WandbLogger, RecordingRun]:
    logger = WandbLogger(save_dir=str(tmp_path), offline=True)
    run = RecordingRun()
    logger._experiment = run  # the property returns it instead of starting wandb
    return logger, run


def test_epoch_0_and_every_n_epochs_and_the_last_one(tmp_path, extractor):
    metrics = Metrics(every_n_epochs=2, num_samples=16, batch_size=8)
    logger, run = wandb_logger(tmp_path)
    trainer, _ = fit(tmp_path, [metrics], logger=logger)
    assert sorted(metrics.results) == [0, 2, 3]  # before training, epoch 2, and the last (3)
    logged = [entry for entry in run.logged if "metrics/fid" in entry]
    assert [entry["epoch"] for entry in logged] == [0, 2, 3]
    for entry in logged:
        values = metrics.results[entry["epoch"]]
        assert entry["metrics/fid"] == values["fid"] and entry["metrics/kid"] == values["kid"]
        assert entry["metrics/eval_seconds"] == values["eval_seconds"] > 0
        for key in ("precision", "recall", "density", "coverage", "distinct_nn"):
            assert entry[f"metrics/{key}"] == values[key] and values[key] >= 0
        assert "metrics/is" not in entry  # the toy network has no logits
    assert metrics.results[3]["num_real"] == 16 and metrics.results[3]["num_fake"] == 16
    best_epoch = min(metrics.results, key=lambda e: metrics.results[e]["fid"])
    assert metrics.best == {"fid": metrics.results[best_epoch]["fid"], "epoch": best_epoch}
    assert trainer.callback_metrics["metrics/fid"].item() == pytest.approx(metrics.results[3]["fid"])
    # Each image through the network once: 16 real images and the reference's 16 others once, then 16
    # generated per evaluation.
    assert extractor.backbone.images_seen == 2 * 16 + 3 * 16


def test_an_evaluation_that_spends_the_time_budget_is_the_last_one(tmp_path, extractor):
    class SlowAtEpoch2(Metrics):
        def evaluate_epoch(self, trainer, pl_module, epoch):
            values = super().evaluate_epoch(trainer, pl_module, epoch)
            if epoch == 2:
                time.sleep(2.5)  # runs past max_time (2 s; epochs 1 and 2 take milliseconds)
            return values

    metrics = SlowAtEpoch2(every_n_epochs=2, num_samples=16, batch_size=8)
    L.seed_everything(0, verbose=False)
    trainer = L.Trainer(max_epochs=100, max_time={"seconds": 2}, accelerator="cpu", devices=1, logger=False,
                        callbacks=[metrics], enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(TinyGAN(), datamodule=TinyData(cache_dir=str(tmp_path / "fid_stats"), key="tiny"))
    # Stopped at epoch 2, just scored: not one batch of epoch 3 trained and scored again.
    assert sorted(metrics.results) == [0, 2] and trainer.current_epoch == 2


def test_the_best_fid_checkpoint_sees_each_epochs_value(tmp_path, extractor):
    metrics = Metrics(num_samples=16, batch_size=8, at_start=False)
    best = ModelCheckpoint(dirpath=tmp_path / "ckpt", filename="best-fid", monitor="metrics/fid", mode="min", save_top_k=1)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*could not find the monitored key.*")
        fit(tmp_path, [best, metrics])  # the checkpoint listed first: Lightning still runs it after us
    assert sorted(metrics.results) == [1, 2, 3]
    assert best.best_model_score.item() == pytest.approx(min(v["fid"] for v in metrics.results.values()))
    best_epoch = metrics.best["epoch"]
    saved = torch.load(best.best_model_path, weights_only=True)  # the results so far travel in the checkpoint
    so_far = {e: v for e, v in metrics.results.items() if e <= best_epoch}
    assert any(state.get("results") == so_far for state in saved["callbacks"].values())


def test_training_is_identical_with_metrics_on_or_off(tmp_path, extractor):
    _, without = fit(tmp_path / "off", [])
    _, with_metrics = fit(tmp_path / "on", [Metrics(num_samples=16, batch_size=8, seed=7)])
    for a, b in zip(without.parameters(), with_metrics.parameters()):
        assert torch.equal(a, b)


def test_real_statistics_are_cached_across_runs(tmp_path, extractor):
    data = lambda: TinyData(cache_dir=str(tmp_path / "fid_stats"), key="tiny-8px-1ch")  # noqa: E731
    first = Metrics(num_samples=16, batch_size=8)
    fit(tmp_path / "run1", [first], datamodule=data(), max_epochs=1)
    evaluation, reference = sorted(p.name for p in (tmp_path / "fid_stats").iterdir())
    assert evaluation.startswith("tiny-8px-1ch-1x8x8-n16-toy")
    assert reference.startswith("tiny-8px-1ch-reference-from16-1x8x8-n16-toy")  # the reference's second set
    seen = extractor.backbone.images_seen
    second = Metrics(num_samples=16, batch_size=8)
    fit(tmp_path / "run2", [second], datamodule=data(), max_epochs=1)
    assert extractor.backbone.images_seen - seen == 2 * 16  # only generated images: epochs 0 and 1
    assert second.real_reference == first.real_reference
    assert second.results[0]["fid"] == first.results[0]["fid"]  # same noise, same weights, same reals


def test_without_datamodule_hooks_a_content_key_under_the_run_folder(tmp_path, extractor):
    metrics = Metrics(num_samples=64, batch_size=8)  # more than the 32 training images
    fit(tmp_path, [metrics], datamodule=TinyData(), max_epochs=1)
    (stats,) = (tmp_path / "fid_stats").iterdir()
    assert stats.name.startswith("TensorDataset-") and "-n32-" in stats.name
    assert metrics.results[1]["num_real"] == 32 and metrics.results[1]["num_fake"] == 64


def test_off_means_no_evaluation(tmp_path, extractor):
    metrics = Metrics(every_n_epochs=0)
    fit(tmp_path, [metrics], max_epochs=1)
    assert metrics.results == {} and extractor.backbone.images_seen == 0


def test_missing_weights_warn_once_and_training_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv(inception.WEIGHTS_ENV, str(tmp_path / "missing.pt"))
    metrics = Metrics(num_samples=16, batch_size=8)
    with pytest.warns(UserWarning) as record:
        trainer, _ = fit(tmp_path, [metrics], max_epochs=2)
    ours = [w for w in record if "FID/KID are off" in str(w.message)]
    assert len(ours) == 1 and "pip install 'igan[fid]'" in str(ours[0].message)
    assert trainer.current_epoch == 2 and metrics.results == {}
    assert "metrics/fid" not in trainer.callback_metrics


def test_bad_arguments_are_refused():
    for kwargs in ({"every_n_epochs": -1}, {"num_samples": 1}, {"batch_size": 0}):
        with pytest.raises(ValueError):
            Metrics(**kwargs)


class ThreeRanks:
    """The all-gather of three ranks as Lightning's DDP strategy returns it: (world, *shape)."""

    def __init__(self, shares: list[torch.Tensor]) -> None:
        self.shares = shares

    def all_gather(self, mine: torch.Tensor) -> torch.Tensor:
        rows = mine.shape[0]
        padded = [torch.cat([s, s.new_full((rows - len(s), *s.shape[1:]), -7.0)]) for s in self.shares]
        return torch.stack(padded)


def test_ranks_share_the_samples_and_the_gather_restores_the_single_process_set(extractor):
    """Each rank embeds every world_size-th sample; gathered, they are the one-process features in order."""
    model, metrics = TinyGAN(), Metrics(num_samples=10, batch_size=4)
    single = metrics.fake_features(model, extractor).pool
    shares = [metrics.fake_features(model, extractor, rank, 3).pool for rank in range(3)]
    assert [len(s) for s in shares] == [4, 3, 3]  # 10 samples over 3 ranks
    for rank in range(3):
        trainer = SimpleNamespace(world_size=3, strategy=ThreeRanks(shares))
        gathered = callback_module.gather_features(trainer, ImageFeatures(shares[rank]), num_samples=10)
        torch.testing.assert_close(gathered.pool, single)  # padding (-7) dropped, order restored
    assert callback_module.gather_features(SimpleNamespace(world_size=1), ImageFeatures(single), 10).pool is single


class OtherRankLacksWeights:
    """reduce_boolean_decision as DDP answers it when another process found no Inception weights."""

    def reduce_boolean_decision(self, decision: bool, all: bool = True) -> bool:
        return False


def test_metrics_are_off_on_every_rank_when_one_lacks_the_weights(extractor):
    trainer = SimpleNamespace(strategy=OtherRankLacksWeights(), is_global_zero=True, loggers=[])
    metrics = Metrics()
    with pytest.warns(UserWarning, match="FID/KID are off for this run: another process found no Inception weights"):
        metrics.setup(trainer, TinyGAN(), "fit")
    assert not metrics.enabled and metrics.extractor is None


def test_real_vs_real_reference_is_printed_once_kept_logged_and_saved(tmp_path, extractor, caplog):
    metrics = Metrics(num_samples=16, batch_size=8)
    metrics.reference_path = tmp_path / "run" / REFERENCE_FILE
    logger, run = wandb_logger(tmp_path)
    best = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    # Lightning's logger may not propagate to the root (where caplog listens): listen on it directly.
    rank_zero_logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    rank_zero_logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger=rank_zero_logger.name):
            fit(tmp_path, [best, metrics], logger=logger, max_epochs=2)
    finally:
        rank_zero_logger.removeHandler(caplog.handler)
    records = {id(r): r for r in caplog.records}.values()  # a propagating record reaches the handler twice
    printed = [r.getMessage() for r in records if "of real vs real" in r.getMessage()]
    assert len(printed) == 1 and printed[0].startswith("precision/recall/density/coverage of real vs real (16 each): ")
    reference = metrics.real_reference
    # The evaluation's 16 real images against the next 16 of the same permutation (TinyData has 32).
    images = TinyData().dataset.tensors[0]
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(callback_module.REAL_SUBSET_SEED))
    torch.testing.assert_close(metrics.evaluator.real_features, extractor.extract(images[order[:16]]).pool)
    expected = metrics.evaluator.real_reference(extractor.extract(images[order[16:]]).pool)
    assert expected["n"] == 16 and reference == {**expected, "num_each": 16}
    numbers = " / ".join(f"{expected[k]:.3f}" for k in ("precision", "recall", "density", "coverage"))
    assert printed[0].endswith(f"{numbers}; distinct_nn {expected['distinct_nn']:.3f}; FID {expected['fid']:.2f}")
    shared = ("fid", "precision", "recall", "density", "coverage", "distinct_nn")
    assert {k: run.summary[f"metrics/{k}_real"] for k in shared} == {k: expected[k] for k in shared}
    saved = json.loads(metrics.reference_path.read_text())
    assert saved == {**reference, "precision_recall_k": 3, "density_coverage_k": 5}
    assert read_real_reference(tmp_path / "run") == saved
    assert read_real_reference(tmp_path) == {}  # no file: nothing, not an error
    state = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)["callbacks"]
    assert any(v.get("real_reference") == reference for v in state.values())
    restored = Metrics()
    restored.load_state_dict(metrics.state_dict())
    assert restored.real_reference == reference


def test_without_a_reference_path_nothing_is_written(tmp_path, extractor):
    metrics = Metrics(num_samples=16, batch_size=8)
    fit(tmp_path, [metrics], max_epochs=1)
    assert metrics.real_reference is not None and not list(tmp_path.rglob("real_reference.json"))


@pytest.mark.parametrize("kid_std, shown", [(0.0, "KID 0.4175  "), (0.0123, "KID 0.4175 ± 0.0123  ")])
def test_the_epoch_line_prints_kid_spread_only_when_there_is_one(monkeypatch, kid_std, shown):
    lines = []
    monkeypatch.setattr(callback_module, "rank_zero_info", lines.append)
    values = {"fid": 335.05, "kid": 0.4175, "kid_std": kid_std, "num_fake": 64, "eval_seconds": 1.0}
    Metrics()._log(SimpleNamespace(loggers=[]), 0, values)
    assert shown in lines[0] and (kid_std > 0 or "±" not in lines[0])


def test_a_training_set_under_twice_the_evaluations_size_gives_a_reference_of_halves(tmp_path, extractor, monkeypatch):
    lines = []
    monkeypatch.setattr(callback_module, "rank_zero_info", lines.append)
    metrics = Metrics(num_samples=24, batch_size=8)  # TinyData has 32 images: 24 evaluated, 8 more
    fit(tmp_path, [metrics], max_epochs=1)
    assert metrics.results[1]["num_real"] == 24 and metrics.real_reference["n"] == 16
    (printed,) = [line for line in lines if "of real vs real" in line]
    assert "(16 each; fewer than the evaluation's 24: the training set has fewer than 48 images" in printed
