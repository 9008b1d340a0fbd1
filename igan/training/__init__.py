"""Training support around :class:`igan.gan.GAN`: the CLI, callbacks, checkpoints, resume and run files."""
