"""Reading and writing image files with their bit depth (mirrors :mod:`restorekit.io`)."""

from . import load_16bit, save_16bit  # noqa: F401  (registers them)
