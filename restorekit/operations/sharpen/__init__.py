"""Sharpening operations (mirrors :mod:`restorekit.sharpen`)."""

from . import detail, smart, unsharp  # noqa: F401  (registers them)
