"""The commands that belong to no one package: ``igan train`` (a GAN or a translation, by the
config's task) and ``igan sample`` (either kind of checkpoint). ``igan/__main__.py`` lists them all."""
