"""Measuring and comparing operations (mirrors :mod:`restorekit.quality`)."""

from . import compare, metrics, noise, noise_analysis  # noqa: F401  (registers them)
