"""``python -m igan.dashboard``: the command; its code lives in :mod:`igan.report.dashboard`."""

import sys

from igan.report.dashboard import main

if __name__ == "__main__":
    sys.exit(main())
