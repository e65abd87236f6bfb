"""Pretrained restoration networks (mirrors :mod:`restorekit.models`)."""

from . import builtin_denoiser, loader, restore  # noqa: F401  (registers them)
