"""restorekit: image restoration on torch tensors — denoise, deblur, enhance, sharpen, measure.

Core functions take ``[B, C, H, W]`` float tensors in [0, 1] (C = 1 or 3) on any device, with
noise levels in [0, 1] units, and are exported here and by the subpackages (``restorekit.denoise``,
``restorekit.deblur``, ``restorekit.enhance``, ``restorekit.sharpen``, ``restorekit.grain``, ``restorekit.quality``,
``restorekit.learned``, ``restorekit.models``, ``restorekit.pipelines``); they are imported on first use. :func:`run` runs any
operation of the nodes and the CLI by name, with the nodes' parameters and units.
"""

from .errors import (
    AlgorithmError,
    DatasetNotFoundError,
    InvalidImageError,
    InvalidParameterError,
    MissingDependencyError,
    ModelLoadError,
    RestoreError,
)
from .lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    # operations, as the nodes and the CLI see them
    "run": ".params",
    "get_operation": ".params",
    "all_operations": ".params",
    # files
    "load_image": ".io",
    "save_images": ".io",
    "read_image": ".io",
    "write_image": ".io",
    # algorithms
    "wavelet_denoise": ".denoise.wavelet",
    "nlm_denoise": ".denoise.nlm",
    "bm3d_denoise": ".denoise.bm3d",
    "auto_denoise": ".denoise.auto",
    "autotune_denoiser": ".denoise.autotune",
    "tv_denoise": ".denoise.tv",
    "PSF": ".deblur.psf",
    "make_psf": ".deblur.psf",
    "richardson_lucy": ".deblur.richardson_lucy",
    "wiener_deconvolution": ".deblur.wiener",
    "bm3d_deblur": ".deblur.bm3d_deblur",
    "estimate_blur": ".deblur.estimate",
    "clahe": ".enhance.clahe",
    "auto_clahe": ".enhance.auto_clahe",
    "retinex": ".enhance.retinex",
    "homomorphic_filter": ".enhance.homomorphic",
    "phase_preserving_enhance": ".enhance.phase_preserving",
    "adaptive_frequency_filter": ".enhance.adaptive_frequency",
    "color_enhance": ".enhance.color_enhance",
    "white_balance": ".enhance.white_balance",
    "frequency_bands": ".enhance.bands",
    "multiscale_detail": ".enhance.multiscale",
    "adaptive_enhance": ".enhance.adaptive",
    "unsharp_mask": ".sharpen.unsharp",
    "smart_sharpen": ".sharpen.smart",
    "detail_sharpen": ".sharpen.detail",
    "contrast_adaptive_sharpen": ".sharpen.cas",
    "add_grain": ".grain.synthesis",
    "GrainModel": ".grain.model",
    "analyze_grain": ".grain.analysis",
    "remove_grain": ".grain.removal",
    "match_grain": ".grain.match",
    "noise2void": ".learned.n2v",
    "deep_image_prior": ".learned.dip",
    "load_model": ".models.loader",
    "restore_with_model": ".models.restore",
    "builtin_denoise": ".models.builtin",
    "restore_pipeline": ".pipelines.restore",
    "smart_restore": ".pipelines.smart",
    "psnr": ".quality.metrics",
    "ssim": ".quality.metrics",
    "measure": ".quality.metrics",
    "estimate_sigma": ".quality.noise",
    "analyse_noise": ".quality.noise_analysis",
    "compare_grid": ".quality.compare",
    "lightness_order_error": ".quality.lightness_order",
    "ms_ssim": ".quality.full_reference",
    "gmsd": ".quality.full_reference",
    "fsim": ".quality.full_reference",
    "vif": ".quality.full_reference",
    "haarpsi": ".quality.full_reference",
    "niqe": ".quality.niqe",
    "brisque": ".quality.brisque",
    "piqe": ".quality.piqe",
    "difference": ".quality.difference",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "AlgorithmError",
    "DatasetNotFoundError",
    "InvalidImageError",
    "InvalidParameterError",
    "MissingDependencyError",
    "ModelLoadError",
    "RestoreError",
    *_EXPORTS,
]
