"""Deblurring operations (mirrors :mod:`restorekit.deblur`)."""

from . import bm3d_deblur, estimate_blur, psf, richardson_lucy, wiener  # noqa: F401  (registers them)
