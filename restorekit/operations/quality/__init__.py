"""Measuring and comparing operations (mirrors :mod:`restorekit.quality`)."""

from . import compare, difference, metrics, noise, noise_analysis  # noqa: F401  (registers them)
