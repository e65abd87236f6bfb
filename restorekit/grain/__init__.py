"""Film grain: analysis, removal, synthesis and matching, over one grain model.

The functions are imported on first use (:mod:`restorekit.lazy`).
"""

from ..lazy import lazy_exports

_EXPORTS = {
    "GrainModel": ".model",
    "ScalingFunction": ".model",
    "add_grain": ".synthesis",
    "grain_layer": ".synthesis",
    "grain_model": ".synthesis",
    "render_boolean": ".boolean",
    "radial_power_spectrum": ".spectrum",
    "autocorrelation": ".spectrum",
    "correlation_length": ".spectrum",
    "read_av1_table": ".av1_table",
    "write_av1_table": ".av1_table",
    "av1_exportable": ".av1_table",
    "analyze_grain": ".analysis",
    "classify_grain": ".classify",
    "grain_visual": ".visual",
    "remove_grain": ".removal",
    "match_grain": ".match",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = list(_EXPORTS)
