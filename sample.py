#!/usr/bin/env python
"""Generate images from a checkpoint: ``python sample.py --ckpt runs/<run>/checkpoints/last.ckpt``.

The same command as ``igan sample`` (:mod:`igan.commands.sample`); ``--help`` lists its options.
"""

import sys

from igan.commands.sample import main

if __name__ == "__main__":
    sys.exit(main())
