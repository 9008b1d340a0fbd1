"""A study: every config trained with every seed under one budget, then compared (``igan study``).

- :mod:`igan.study.plan`: which runs, and what each run's folder says about it (done, to resume, new);
- :mod:`igan.study.pool`: the local executor, the runs as child processes of this machine;
- :mod:`igan.study.slurm`: the SLURM executor, the runs as one job array submitted through
  submitit; :mod:`igan.study.slurm_state` reads which runs train again (run folders and
  ``squeue``), :mod:`igan.study.slurm_task` is one task on its node;
- :mod:`igan.study.machine`: where a run trained and the CPU share it got (``machine.json``);
- :mod:`igan.study.cli`: the command, which plans, trains with an executor, then writes the
  comparison with :mod:`igan.report.compare`.

The runs' results are read back by :mod:`igan.report` only from the files the runs leave.
"""
