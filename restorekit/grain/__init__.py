"""Film grain: analysis, removal, synthesis and matching, over one grain model.

The functions are imported on first use (:mod:`restorekit.lazy`).
"""

from ..lazy import lazy_exports

_EXPORTS = {
    "GrainModel": ".model",
    "ScalingFunction": ".model",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = list(_EXPORTS)
