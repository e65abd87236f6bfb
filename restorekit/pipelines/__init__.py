"""Pipelines: chains of restorekit operations (Restore Pipeline) and one that plans itself (Smart Restore).

The functions are imported on first use (:mod:`restorekit.lazy`).
"""

from ..lazy import lazy_exports

_EXPORTS = {
    "restore_pipeline": ".restore",
    "PipelineResult": ".restore",
    "PRESETS": ".restore",
    "smart_restore": ".smart",
    "SmartResult": ".smart",
    "SmartPlan": ".smart",
    "measure": ".measures",
    "Measures": ".measures",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = list(_EXPORTS)
