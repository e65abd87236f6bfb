"""Enhancement: contrast (CLAHE, Auto CLAHE, Retinex), colour, frequency-domain filters.

The functions are imported on first use (:mod:`restorekit.lazy`).
"""

from ..lazy import lazy_exports

_EXPORTS = {
    "clahe": ".clahe",
    "auto_clahe": ".auto_clahe",
    "retinex": ".retinex",
    "homomorphic_filter": ".homomorphic",
    "phase_preserving_enhance": ".phase_preserving",
    "adaptive_frequency_filter": ".adaptive_frequency",
    "color_enhance": ".color_enhance",
    "white_balance": ".white_balance",
    "estimate_illuminant": ".white_balance",
    "frequency_bands": ".bands",
    "split_bands": ".bands",
    "band_preview": ".bands",
    "multiscale_detail": ".multiscale",
    "laplacian_pyramid": ".pyramid",
    "collapse_laplacian_pyramid": ".pyramid",
    "max_levels": ".pyramid",
    "adaptive_enhance": ".adaptive",
    "assess": ".assessment",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = list(_EXPORTS)
