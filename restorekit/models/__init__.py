"""Pretrained restoration networks: safe loading with spandrel detection, noise-level conditioning.

``from restorekit.models import load_model``; see :mod:`restorekit.models.loader`.
"""

from .loader import (
    SUPPORTED_EXTENSIONS,
    RestorationModel,
    load_model,
    require_purpose,
    supported_architectures,
)

__all__ = ["SUPPORTED_EXTENSIONS", "RestorationModel", "load_model", "require_purpose", "supported_architectures"]
