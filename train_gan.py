#!/usr/bin/env python
"""Train DCGAN, SAGAN or IDCGAN: ``python train_gan.py --config configs/calligraphy_dcgan.yaml``.

Every config field can be overridden, e.g. ``--trainer.max_epochs=5 --data.batch_size=32``;
``--print_config`` shows the resolved configuration. A config with ``task: translation`` at its
top level (``configs/translate/*.yaml``) trains printed-to-calligraphy translation instead
(:mod:`igan.train` dispatches). See README.md.
"""

from __future__ import annotations

import sys

from igan.train import main

if __name__ == "__main__":
    sys.exit(main())
