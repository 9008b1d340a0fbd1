"""``python -m igan.app``: :func:`igan.app.cli.main`."""

import sys

from igan.app.cli import main

if __name__ == "__main__":
    sys.exit(main())
