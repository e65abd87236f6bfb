"""Pretrained restoration networks: safe loading with spandrel detection, noise-level conditioning.

``from restorekit.models import load_model``; see :mod:`restorekit.models.loader`. The model folders
of the host application (e.g. the ComfyUI pack) are set with :func:`set_model_dirs`; see
:mod:`restorekit.models.folders`.
"""

from .builtin import (
    BUILTIN_MODEL_NAME,
    ENV_BUILTIN_WEIGHTS,
    builtin_denoise,
    builtin_weights_available,
    builtin_weights_path,
    load_builtin_denoiser,
    save_builtin_weights,
)
from .folders import default_model_dir, model_dirs, set_model_dirs
from .loader import (
    SUPPORTED_EXTENSIONS,
    RestorationModel,
    load_model,
    require_purpose,
    supported_architectures,
)

__all__ = [
    "BUILTIN_MODEL_NAME",
    "ENV_BUILTIN_WEIGHTS",
    "SUPPORTED_EXTENSIONS",
    "builtin_denoise",
    "builtin_weights_available",
    "builtin_weights_path",
    "load_builtin_denoiser",
    "save_builtin_weights",
    "RestorationModel",
    "default_model_dir",
    "load_model",
    "model_dirs",
    "require_purpose",
    "set_model_dirs",
    "supported_architectures",
]
