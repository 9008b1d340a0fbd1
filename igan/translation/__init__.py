"""Printed-to-calligraphy translation: paired glyphs, a U-Net + PatchGAN, held-out scores, its CLI."""
