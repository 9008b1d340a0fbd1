"""``python -m igan.summary``: the command; its code lives in :mod:`igan.report.summary`."""

import sys

from igan.report.summary import main

if __name__ == "__main__":
    sys.exit(main())
