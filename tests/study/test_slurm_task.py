"""igan.study.slurm_task: what a task's training gets, without a cluster (test_slurm_cluster.py runs tasks for real)."""

import signal
from pathlib import Path

from igan.study.plan import PlannedRun
from igan.study.slurm_task import NO_REQUEUE_ENV, task_env


def test_a_task_trains_with_its_cpus_w_and_b_offline_in_the_study_and_no_lightning_requeue(tmp_path):
    from igan.training import resume

    run = PlannedRun(Path("x_dcgan.yaml"), "x_dcgan-s0", 3, label="x_dcgan")
    env = task_env(run, tmp_path, {"PATH": "/bin", "SLURM_CPUS_PER_TASK": "4", "SLURM_CPUS_ON_NODE": "8",
                                         "WANDB_MODE": "online"})
    assert env == {"PATH": "/bin", "SLURM_CPUS_PER_TASK": "4", "SLURM_CPUS_ON_NODE": "8", "WANDB_JOB_TYPE": "x_dcgan",
                   "OMP_NUM_THREADS": "4", "MKL_NUM_THREADS": "4", "WANDB_MODE": "offline",
                   "WANDB_DIR": str(tmp_path / "runs"), "IGAN_SLURM_NO_REQUEUE": "1"}
    disabled = task_env(run, tmp_path, {"SLURM_CPUS_ON_NODE": "2", "WANDB_MODE": "disabled"})
    assert disabled["WANDB_MODE"] == "disabled"
    assert task_env(run, tmp_path, {"SLURM_CPUS_ON_NODE": "2"})["OMP_NUM_THREADS"] == "2"
    assert NO_REQUEUE_ENV == resume.NO_REQUEUE_ENV


def test_lightning_leaves_sigusr1_alone_in_a_study_task_and_requeues_elsewhere(monkeypatch):
    """Lightning's own requeue (a SIGUSR1 handler under SLURM) is off exactly where the study sets the variable."""
    from lightning.pytorch import Trainer
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    from igan.training.resume import cluster_plugins

    def sigusr1_handled(plugins) -> bool:
        trainer = Trainer(plugins=plugins, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                          enable_progress_bar=False, enable_model_summary=False)
        connector = trainer._signal_connector  # what Lightning itself calls when fit starts
        connector.register_signal_handlers()
        try:
            return signal.getsignal(signal.SIGUSR1) not in (signal.SIG_DFL, None)
        finally:
            connector.teardown()

    for key in ("SLURM_NTASKS", "SLURM_JOB_NAME", "IGAN_SLURM_NO_REQUEUE"):
        monkeypatch.delenv(key, raising=False)
    assert cluster_plugins() == []  # not under SLURM
    monkeypatch.setenv("SLURM_NTASKS", "1")
    monkeypatch.setenv("SLURM_JOB_NAME", "igan-study")
    assert cluster_plugins() == [] and sigusr1_handled([])  # a plain sbatch igan train keeps Lightning's requeue
    monkeypatch.setenv("IGAN_SLURM_NO_REQUEUE", "1")
    [environment] = cluster_plugins()
    assert isinstance(environment, SLURMEnvironment) and environment.auto_requeue is False
    assert not sigusr1_handled([environment])
