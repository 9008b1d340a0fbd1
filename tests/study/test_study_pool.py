"""igan.study.pool: runs trained at once share the CPU threads and take the GPUs in turn."""

import os
from pathlib import Path

from igan.study.plan import PlannedRun
from igan.study.pool import child_env, thread_count


def test_parallel_runs_split_the_threads_and_take_the_gpus_in_turn():
    run = PlannedRun(Path("configs/x_dcgan.yaml"), "x_dcgan-s1", 3, seed=1, label="x_dcgan")
    assert thread_count(2, {"OMP_NUM_THREADS": "16"}) == 8
    assert thread_count(32, {"OMP_NUM_THREADS": "16"}) == 1
    assert thread_count(1, {}) == len(os.sched_getaffinity(0))
    env = child_env(run, slot=3, jobs=2, threads=8, gpus=["0", "1"], environ={"PATH": "/bin"})
    assert env == {"PATH": "/bin", "WANDB_JOB_TYPE": "x_dcgan", "OMP_NUM_THREADS": "8", "MKL_NUM_THREADS": "8",
                   "CUDA_VISIBLE_DEVICES": "1"}
    # One at a time: the run keeps the whole machine, threads and GPUs as the user set them.
    assert child_env(run, 0, 1, 8, ["0", "1"], {"CUDA_VISIBLE_DEVICES": "0,1"}) == {
        "CUDA_VISIBLE_DEVICES": "0,1", "WANDB_JOB_TYPE": "x_dcgan"}
