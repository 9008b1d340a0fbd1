"""The GAN module's generator EMA: averaged by torch.optim.swa_utils, used for sampling."""

import torch
from conftest import REPO

from igan.cli import main
from igan.sampling import load_generator

TINY = ["--model.generator.init_args.width=8", "--model.discriminator.init_args.width=8",
        "--trainer.max_epochs=1", "--trainer.limit_train_batches=3", "--data.batch_size=4",
        "--data.num_workers=0", "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]


def test_ema_generator_is_averaged_checkpointed_and_sampled(tiny_cifar10, tmp_path):
    rc = main(["--config", str(REPO / "configs" / "cifar10_dcgan.yaml"), *TINY, f"--data.root={tiny_cifar10}",
               "--model.ema_decay=0.5", "--run_name=ema", f"--trainer.default_root_dir={tmp_path / 'runs'}",
               f"--samples_root={tmp_path / 'samples'}"])
    assert rc == 0
    ckpt_path = tmp_path / "runs" / "ema" / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt_path, weights_only=True)["state_dict"]
    assert state["generator_ema.n_averaged"].item() == 3  # one update per generator step
    key = "net.0.weight"
    live, ema = state[f"generator.{key}"], state[f"generator_ema.module.{key}"]
    assert not torch.equal(live, ema)  # an average of the iterates, not the last one
    assert not any(k.startswith("generator_ema") and v.requires_grad for k, v in state.items())
    generator = load_generator(ckpt_path)
    assert torch.equal(generator.state_dict()[key], ema)
