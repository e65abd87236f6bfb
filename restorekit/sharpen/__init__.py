"""Sharpening: unsharp mask.

The functions are imported on first use (:mod:`restorekit.lazy`).
"""

from ..lazy import lazy_exports

_EXPORTS = {
    "unsharp_mask": ".unsharp",
    "gaussian_blur": ".unsharp",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = list(_EXPORTS)
