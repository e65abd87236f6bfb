"""Pretrained restoration networks (mirrors :mod:`restorekit.models`)."""

from . import loader, restore  # noqa: F401  (registers them)
