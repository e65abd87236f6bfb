"""Denoising operations (mirrors :mod:`restorekit.denoise`)."""

from . import auto, autotune, bm3d, nlm, tv, wavelet  # noqa: F401  (registers them)
