"""A translation checkpoint's hand as an installable TrueType font: translate, trace, write (``igan font``)."""
