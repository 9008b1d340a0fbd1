"""``python -m igan.font``: the same as ``igan font``."""

import sys

from igan.font.cli import main

if __name__ == "__main__":
    sys.exit(main())
