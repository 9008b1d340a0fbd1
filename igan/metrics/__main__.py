"""``python -m igan.metrics DIR_A DIR_B``: see :mod:`igan.metrics.cli`."""

from igan.metrics.cli import main

raise SystemExit(main())
