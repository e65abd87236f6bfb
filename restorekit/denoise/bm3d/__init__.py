"""BM3D and CBM3D denoising (CPU and GPU): see :func:`bm3d_denoise`.

Modules (each imports only those above it in this list; none imports one that imports it back):

* :mod:`.options`: the option names, constants and their validation (sigma, PSD, backend);
* :mod:`.profiles`: the parameters of every profile; :mod:`.colour`: the CBM3D colour transforms;
  :mod:`.transforms`, :mod:`.matching`: block transforms and block matching;
* :mod:`.stages`: one stage on the torch path; :mod:`.fused` (+ :mod:`.fused_kernels`): one stage
  on the fused Triton kernels;
* :mod:`.core`: the pipeline of the torch and fused backends (checks, colour, stages, refiltering);
* :mod:`.reference`: the optional reference backend (the ``bm3d`` package);
* :mod:`.dispatch`: the backend choice and :func:`bm3d_denoise`.
"""

from .dispatch import bm3d_denoise
from .options import BACKENDS, COLOR_SPACES, PROFILES, STAGES
from .reference import reference_available

__all__ = ["bm3d_denoise", "BACKENDS", "PROFILES", "STAGES", "COLOR_SPACES", "reference_available"]
