"""Measuring and comparing: PSNR, SSIM, MS-SSIM, GMSD, FSIM, VIF, HaarPSI, no-reference measures (NIQE, BRISQUE, PIQE, blur, entropy, colourfulness, texture), noise estimation and analysis, comparison grids.

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
    "ms_ssim": ".full_reference",
    "gmsd": ".full_reference",
    "fsim": ".full_reference",
    "vif": ".full_reference",
    "haarpsi": ".full_reference",
    "blur_effect": ".no_reference",
    "entropy": ".no_reference",
    "colourfulness": ".no_reference",
    "colorfulness": ".no_reference",
    "glcm_texture": ".no_reference",
    "niqe": ".niqe",
    "fit_niqe_model": ".niqe",
    "NiqeModel": ".niqe",
    "brisque": ".brisque",
    "piqe": ".piqe",
    "difference": ".difference",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = list(_EXPORTS)
