"""Denoisers that learn from the image itself: Noise2Void, Deep Image Prior.

The functions are imported on first use (:mod:`restorekit.lazy`).
"""

from ..lazy import lazy_exports

_EXPORTS = {
    "noise2void": ".n2v",
    "deep_image_prior": ".dip",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = list(_EXPORTS)
