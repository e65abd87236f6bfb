"""BM3D and CBM3D denoising in torch (CPU and GPU): see :func:`bm3d_denoise`."""

from .colour import COLOR_SPACES
from .core import STAGES, bm3d_denoise
from .profiles import PROFILES

__all__ = ["bm3d_denoise", "PROFILES", "STAGES", "COLOR_SPACES"]
