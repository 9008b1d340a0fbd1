"""igan.study.slurm without a cluster: the array submitit writes, each task's command, which runs go in it.

The array is submitted through submitit for real; only ``sbatch`` is a stand-in on PATH that keeps
the job script it is given and answers like sbatch (the real one runs in test_slurm_cluster.py).
"""

import os
import stat
import sys
from pathlib import Path

import pytest

from igan.study import slurm
from igan.study.cli import main
from igan.study.plan import study_runs
from igan.study.pool import LocalPool, train_command
from igan.study.slurm import SlurmOptions, minutes, sbatch_lines
from igan.study.slurm_state import read_jobs, write_jobs
from igan.study.slurm_task import train_task

REPO = Path(__file__).resolve().parents[2]
CONFIGS = [str(REPO / "configs" / "calligraphy_dcgan.yaml"), str(REPO / "configs" / "calligraphy_sagan.yaml")]


@pytest.mark.parametrize("text, expected", [
    ("90", 90), ("90:30", 91), ("4:00:00", 240), ("1:00:01", 61), ("2-0", 2880), ("1-2:30", 1590),
    ("0-00:10:00", 10), ("UNLIMITED", 0), ("infinite", 0),
])
def test_slurm_time_formats_are_whole_minutes(text, expected):
    assert minutes(text) == expected


def test_sbatch_lines_are_options_or_shell_lines_run_before_the_task():
    options, setup = sbatch_lines(["--qos=high", "#SBATCH --account=lab", "--constraint a100", "--exclusive",
                                   "module load cuda/12"])
    assert options == {"qos": "high", "account": "lab", "constraint": "a100", "exclusive": True}
    assert setup == ["module load cuda/12"]


@pytest.mark.parametrize("args, message", [
    (["--executor", "slurm", "--slurm-time", "soon"], "error: --slurm-time: not a SLURM time ('soon')"),
    (["--executor", "slurm", "--slurm-parallel", "0"], "error: --slurm-parallel must be >= 1, got 0"),
    (["--executor", "slurm", "--slurm-cpus-per-task", "0"], "error: --slurm-cpus-per-task must be >= 1, got 0"),
    (["--executor", "slurm", "--slurm-mem", "lots"], "error: --slurm-mem: give SLURM's --mem, e.g. 16G"),
    (["--executor", "slurm", "--slurm-sbatch", "-A lab"], "error: --slurm-sbatch: give sbatch's long options"),
    (["--executor", "slurm", "--jobs", "2"], "error: --jobs is for --executor local"),
    (["--slurm-partition", "gpu"], "error: the --slurm-* options need --executor slurm"),
    (["--executor", "cloud"], "error: argument --executor: invalid choice: 'cloud'"),
])
def test_bad_slurm_arguments_are_one_error_line_and_submit_nothing(tmp_path, capsys, args, message):
    out = tmp_path / "study"
    assert main(["--configs", *CONFIGS, "--epochs", "1", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert not out.exists()
    assert main(["--configs", *CONFIGS, "--epochs", "1", "--executor", "slurm"]) == 2
    assert "error: --executor slurm needs --out" in capsys.readouterr().err


def stand_in(folder: Path, name: str, script: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text("#!/bin/sh\n" + script)
    (folder / name).chmod((folder / name).stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def fake_sbatch(tmp_path, monkeypatch):
    """``sbatch`` that copies the job script to ``<tmp>/submitted.sh`` and answers ``Submitted batch job 4242``."""
    stand_in(tmp_path / "bin", "sbatch", f'cp "$1" {tmp_path / "submitted.sh"}\necho "Submitted batch job 4242"\n')
    stand_in(tmp_path / "bin", "srun", "exit 1\n")  # only looked for: the job script would run it
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    return tmp_path / "submitted.sh"


def test_the_runs_are_one_array_with_at_most_n_at_once_each_task_the_local_command(tmp_path, fake_sbatch):
    import submitit

    out = tmp_path / "study"
    runs = study_runs(CONFIGS, [0, 1], 3)
    options = SlurmOptions(partition="gpu", gpus_per_task=1, cpus_per_task=4, mem="16G", time="2:00:00", parallel=2,
                           sbatch=["--qos=low", "module load cuda/12"])
    ids = slurm.submit(runs, out, "g", ["--data.image_size=32"], options)
    assert ids == ["4242_0", "4242_1", "4242_2", "4242_3"]
    script = fake_sbatch.read_text()
    for line in ("#SBATCH --array=0-3%2", "#SBATCH --partition=gpu", "#SBATCH --gpus-per-task=1",
                 "#SBATCH --cpus-per-task=4", "#SBATCH --mem=16G", "#SBATCH --time=120", "#SBATCH --qos=low",
                 "#SBATCH --ntasks-per-node=1", f"#SBATCH --signal=USR2@{slurm.SIGNAL_DELAY_S}",
                 f"#SBATCH --job-name=igan-{out.name}", "module load cuda/12"):
        assert line in script.splitlines(), line
    assert f"{sys.executable} -u -m submitit.core._submit {out / 'slurm'}" in script
    # The study's record of each run's task, read back by the next invocation.
    assert read_jobs(out) == {r.name: i for r, i in zip(runs, ids)}
    # Each task runs train_task on its run (submitit's pickle), which trains with the local pool's command line.
    for run, job in zip(runs, ids):
        delayed = submitit.core.utils.DelayedSubmission.load(out / "slurm" / f"{job}_submitted.pkl")
        assert delayed.function is train_task
        assert delayed.args[0].name == run.name and delayed.args[1:] == (out, "g", ["--data.image_size=32"])
    run = runs[3]
    local = LocalPool(runs, out, "g", ["--data.image_size=32"], 1)
    assert train_command(run, out, "g", ["--data.image_size=32"]) == local.command(run) == [
        sys.executable, "-m", "igan", "train", "--config", CONFIGS[1], "--trainer.max_epochs=3", "--seed_everything=1",
        "--run_name=calligraphy_sagan-s1", "--wandb_group=g", f"--trainer.default_root_dir={out / 'runs'}",
        f"--samples_root={out / 'samples'}", "--trainer.enable_progress_bar=false", "--data.image_size=32"]
    run.state = "resume"
    assert train_command(run, out, "g", [])[-1] == "--ckpt_path=last"

    # Without --slurm-parallel every task may start at once; one run alone is one task.
    slurm.submit(runs[:2], out, "g", [], SlurmOptions(time="10"))
    assert "#SBATCH --array=0-1%2" in fake_sbatch.read_text()


def test_without_squeue_or_when_sbatch_refuses_nothing_is_submitted_and_one_line_says_why(tmp_path, capsys,
                                                                                          monkeypatch):
    out = tmp_path / "study"
    args = ["--configs", *CONFIGS, "--epochs", "1", "--out", str(out), "--executor", "slurm", "--slurm-time", "5"]
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # nothing of SLURM's
    assert main(args) == 2
    assert capsys.readouterr().err == "error: sbatch not found: --executor slurm runs where SLURM's commands are\n"
    stand_in(tmp_path / "bin", "sbatch", 'echo "sbatch: error: invalid partition specified: gpu" >&2\nexit 1\n')
    stand_in(tmp_path / "bin", "srun", "exit 1\n")  # and still no squeue
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err == "error: sbatch refused the array: sbatch: error: invalid partition specified: gpu\n"
    assert read_jobs(out) == {}
    # Once a study has tasks, their states are needed before anything is submitted again: no guessing.
    write_jobs(out, {"calligraphy_dcgan-s0": "7_0"})
    assert main(args) == 2
    assert capsys.readouterr().err == "error: squeue not found: --executor slurm runs where SLURM's commands are\n"
    assert read_jobs(out) == {"calligraphy_dcgan-s0": "7_0"}
