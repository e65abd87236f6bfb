"""Deconvolution: PSF models, blind blur estimation, Richardson–Lucy, Wiener, BM3D deblurring.

The functions are imported on first use (:mod:`restorekit.lazy`).
"""

from ..lazy import lazy_exports

_EXPORTS = {
    "PSF": ".psf",
    "make_psf": ".psf",
    "gaussian_psf": ".psf",
    "motion_psf": ".psf",
    "disk_psf": ".psf",
    "airy_psf": ".psf",
    "psf_from_image": ".psf",
    "richardson_lucy": ".richardson_lucy",
    "wiener_deconvolution": ".wiener",
    "bm3d_deblur": ".bm3d_deblur",
    "estimate_blur": ".estimate",
    "BlurEstimate": ".estimate",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = list(_EXPORTS)
