"""Measuring and comparing: PSNR, SSIM and no-reference measures, noise estimation and analysis, comparison grids.

The functions are imported on first use (:mod:`restorekit.lazy`).
"""

from ..lazy import lazy_exports

_EXPORTS = {
    "psnr": ".metrics",
    "ssim": ".metrics",
    "mse": ".metrics",
    "measure": ".metrics",
    "estimate_sigma": ".noise",
    "analyse_noise": ".noise_analysis",
    "compare_grid": ".compare",
    "lightness_order_error": ".lightness_order",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = list(_EXPORTS)
