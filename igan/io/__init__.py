"""Files in and out: atomic writes, images and grids, checkpoints read without pickled code, and
the upgrades that let old checkpoints load. Nothing here knows about training."""
