"""The GAN module's generator EMA end to end: averaged during training, checkpointed, sampled."""

import torch
from conftest import REPO
from test_ema import reference_standing_stats

from igan.sampling import load_generator
from igan.training.cli import main

TINY = ["--model.generator.init_args.width=8", "--model.discriminator.init_args.width=8",
        "--trainer.max_epochs=1", "--trainer.limit_train_batches=3", "--data.batch_size=4",
        "--data.num_workers=0", "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
        "--metrics.every_n_epochs=0", "--samples.num=16"]


def test_ema_generator_is_averaged_checkpointed_and_sampled(tiny_cifar10, tmp_path):
    rc = main(["--config", str(REPO / "configs" / "cifar10_dcgan.yaml"), *TINY, f"--data.root={tiny_cifar10}",
               "--model.ema_decay=0.9", "--trainer.logger=false", "--run_name=ema",
               f"--trainer.default_root_dir={tmp_path / 'runs'}", f"--samples_root={tmp_path / 'samples'}"])
    assert rc == 0
    ckpt_path = tmp_path / "runs" / "ema" / "checkpoints" / "last.ckpt"
    ckpt = torch.load(ckpt_path, weights_only=True)
    state = ckpt["state_dict"]
    assert ckpt["global_step"] == 3  # generator updates
    assert state["generator_ema.num_updates"].item() == 3  # one EMA update per generator step
    live = {k[len("generator."):]: v for k, v in state.items() if k.startswith("generator.")}
    ema = {k[len("generator_ema.module."):]: v for k, v in state.items() if k.startswith("generator_ema.module.")}
    assert ema.keys() == live.keys()
    for key in live:
        if not key.endswith("num_batches_tracked"):  # weights and BatchNorm statistics
            assert not torch.equal(live[key], ema[key]), f"{key}: the EMA copy is the live generator's"
    assert not any(k.startswith("generator_ema") and v.requires_grad for k, v in state.items())

    generator = load_generator(ckpt_path)
    assert not generator.training
    loaded = generator.state_dict()
    assert loaded.keys() == ema.keys()
    for key, value in ema.items():
        assert torch.equal(loaded[key], value), f"load_generator did not return the EMA's {key}"
    # The saved BatchNorm statistics are those of the averaged weights (standing statistics).
    expected = reference_standing_stats(generator, batches=8, batch_size=64)  # GeneratorEMA's defaults
    for key, value in expected.items():
        assert torch.allclose(ema[key], value, rtol=1e-4, atol=1e-6), key
