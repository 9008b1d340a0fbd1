#!/usr/bin/env python
"""Train DCGAN, SAGAN or IDCGAN: ``python train_gan.py --config configs/calligraphy_dcgan.yaml``.

The same command as ``igan train`` (:mod:`igan.commands.train`): every config field can be
overridden, e.g. ``--trainer.max_epochs=5 --data.batch_size=32``; ``--print_config`` shows the
resolved configuration; a config with ``task: translation`` trains translation instead. See README.md.
"""

import sys

from igan.commands.train import main

if __name__ == "__main__":
    sys.exit(main())
