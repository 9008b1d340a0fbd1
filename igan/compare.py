"""``python -m igan.compare``: the command; its code lives in :mod:`igan.report.compare`."""

import sys

from igan.report.compare import main

if __name__ == "__main__":
    sys.exit(main())
