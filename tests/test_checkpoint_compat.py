"""igan.io.checkpoint_compat: the layouts of older checkpoints read as today's.

End to end, old checkpoints load, sample and resume in tests/models/test_sagan_models.py (specs
without the attention arguments) and tests/training/test_resume.py (loss sums in ExactResume's state).
"""

import pytest
import torch

from igan.io.checkpoint_compat import legacy_overrides, old_epoch_sums, upgrade_network_specs, upgraded_spec
from igan.errors import IganError
from igan.gan import GAN
from igan.models import DCGANDiscriminator, DCGANGenerator

OLD_SAGAN_G = {"class_path": "igan.models.sagan.SAGANGenerator", "init_args": {"image_size": 32, "width": 8}}


def test_a_spec_gets_the_arguments_it_predates_as_they_were_and_keeps_its_own():
    assert upgraded_spec(OLD_SAGAN_G)["init_args"] == {
        "image_size": 32, "width": 8, "attention_pool": 1, "attention_value_ratio": 1}
    saved = {"class_path": OLD_SAGAN_G["class_path"], "init_args": {"attention_pool": 2, "attention_value_ratio": 2}}
    assert upgraded_spec(saved) == saved  # recorded values win
    dcgan = {"class_path": "igan.models.dcgan.DCGANGenerator", "init_args": {"width": 8}}
    assert upgraded_spec(dcgan) == dcgan  # nothing added since its checkpoints
    assert OLD_SAGAN_G["init_args"] == {"image_size": 32, "width": 8}  # the input is not changed
    with pytest.raises(IganError, match="not a network spec"):
        upgraded_spec({"init_args": {}})


def test_resume_overrides_name_the_arguments_a_spec_predates():
    assert legacy_overrides(OLD_SAGAN_G, "generator") == [
        "--model.generator.init_args.attention_pool=1", "--model.generator.init_args.attention_value_ratio=1"]
    assert legacy_overrides(upgraded_spec(OLD_SAGAN_G), "generator") == []


def test_network_specs_of_hyperparameters_are_upgraded_in_place():
    hparams = {"generator": dict(OLD_SAGAN_G), "discriminator": None, "loss": "hinge"}
    upgrade_network_specs(hparams)
    assert hparams["generator"]["init_args"]["attention_pool"] == 1
    assert hparams["discriminator"] is None and hparams["loss"] == "hinge"


def test_the_epoch_sums_of_an_old_checkpoint_come_from_exact_resumes_state():
    sums, counts = {"d_loss": torch.tensor(3.0)}, {"d_loss": 2}
    old = {"callbacks": {"ExactResume": {"epoch": 1, "batch": 1, "epoch_sums": sums, "epoch_counts": counts}}}
    assert old_epoch_sums(old) == {"sums": sums, "counts": counts}
    assert old_epoch_sums({"callbacks": {"ExactResume": {"epoch": 2, "batch": 0}}}) == {"sums": {}, "counts": {}}
    assert old_epoch_sums({}) == {"sums": {}, "counts": {}}


@pytest.mark.parametrize("layout", ["today", "old"])
def test_the_gan_module_restores_the_epoch_sums_of_either_layout(layout):
    module = GAN(DCGANGenerator(16, 1, latent_dim=8, width=4), DCGANDiscriminator(16, 1, width=4))
    saved = {"sums": {"d_loss": torch.tensor(3.0), "g_loss": torch.tensor(1.0)}, "counts": {"d_loss": 2, "g_loss": 1}}
    if layout == "today":
        checkpoint = {"igan": {"epoch_sums": saved}, "callbacks": {"ExactResume": {"epoch_sums": {"x": 1.0}}}}
    else:
        checkpoint = {"callbacks": {"ExactResume": {"epoch_sums": saved["sums"], "epoch_counts": saved["counts"]}}}
    module.on_load_checkpoint(checkpoint)
    assert module.epoch_means() == {"d_loss": 1.5, "g_loss": 1.0}
