"""Classical and automatic denoisers: wavelet shrinkage, non-local means, BM3D/CBM3D, total variation, Auto-Denoise,
auto-tuning.

The functions are imported on first use (:mod:`restorekit.lazy`).
"""

from ..lazy import lazy_exports

_EXPORTS = {
    "wavelet_denoise": ".wavelet",
    "nlm_denoise": ".nlm",
    "bm3d_denoise": ".bm3d",
    "auto_denoise": ".auto",
    "autotune_denoiser": ".autotune",
    "tv_denoise": ".tv",
    "weight_from_sigma": ".tv",
    "TvInfo": ".tv",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = list(_EXPORTS)
