"""``python -m igan.study``: the command; its code lives in :mod:`igan.report.study`."""

import sys

from igan.report.study import main

if __name__ == "__main__":
    sys.exit(main())
