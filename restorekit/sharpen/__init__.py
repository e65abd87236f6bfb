"""Sharpening: unsharp mask, smart sharpen, detail sharpen, contrast-adaptive sharpening.

The functions are imported on first use (:mod:`restorekit.lazy`).
"""

from ..lazy import lazy_exports

_EXPORTS = {
    "unsharp_mask": ".unsharp",
    "gaussian_blur": ".unsharp",
    "smart_sharpen": ".smart",
    "detail_sharpen": ".detail",
    "contrast_adaptive_sharpen": ".cas",
    "guided_filter": ".guided",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = list(_EXPORTS)
