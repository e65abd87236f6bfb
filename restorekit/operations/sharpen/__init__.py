"""Sharpening operations (mirrors :mod:`restorekit.sharpen`)."""

from . import unsharp  # noqa: F401  (registers it)
