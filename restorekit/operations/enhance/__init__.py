"""Enhancement operations (mirrors :mod:`restorekit.enhance`)."""

from . import (  # noqa: F401  (registers them)
    adaptive_enhance,
    adaptive_frequency,
    auto_clahe,
    clahe,
    color_enhance,
    frequency_bands,
    homomorphic,
    multiscale_detail,
    phase_preserving,
    retinex,
)
