"""Extra words ComfyUI's node search finds each node by (besides its display name and id).

ComfyUI (0.10 and later) takes them as ``search_aliases`` of the V3 ``io.Schema`` and as the
``SEARCH_ALIASES`` attribute of a V1 node class; the frontend matches them like the name.
Aliases are lower case: other names of the method, abbreviations, and the task in plain words.
"""

from __future__ import annotations

#: node id -> search aliases. Every registered node has an entry (checked by tests/test_example_workflows.py).
SEARCH_ALIASES: dict[str, tuple[str, ...]] = {
    # denoise
    "RK_AutoDenoise": ("denoise", "noise reduction", "remove noise", "automatic denoise", "auto"),
    "RK_AutotuneDenoiser": ("noise2self", "sure", "self-supervised", "tune denoiser", "denoise strength"),
    "RK_TvDenoise": ("total variation", "tv", "rof", "chambolle", "split bregman", "denoise"),
    "RK_Bm3dDenoise": ("bm3d", "cbm3d", "block matching", "collaborative filtering", "denoise"),
    "RK_NonLocalMeans": ("nlm", "non-local means", "nl-means", "patch denoise", "denoise"),
    "RK_WaveletDenoise": ("wavelet", "bayesshrink", "visushrink", "sureshrink", "wavelet shrinkage", "denoise"),
    "RK_DeepImagePrior": ("dip", "deep image prior", "untrained network", "denoise"),
    "RK_BuiltinDenoiser": ("built-in denoiser", "offline denoise", "neural denoise", "ai denoise", "unet", "denoise"),
    "RK_Noise2Void": ("n2v", "noise2void", "blind spot", "self-supervised denoise", "microscopy"),
    "RK_EstimateNoise": ("noise level", "noise sigma", "noise estimate", "mad", "measure noise"),
    # deblur
    "RK_Bm3dDeblur": ("bm3d deblur", "deconvolution", "deblur", "sharpen blur"),
    "RK_EstimateBlur": ("blur estimate", "blind deconvolution", "psf estimate", "motion blur", "kernel estimate"),
    "RK_MakePsf": ("psf", "point spread function", "blur kernel", "motion blur", "defocus", "airy", "kernel"),
    "RK_RichardsonLucy": ("rl", "richardson lucy", "lucy richardson", "deconvolution", "deblur", "total variation"),
    "RK_WienerDeconvolution": ("wiener", "wiener filter", "deconvolution", "deblur", "tikhonov"),
    # enhance
    "RK_RestorePipeline": ("restore", "pipeline", "photo restoration", "preset", "denoise deblur sharpen"),
    "RK_SmartRestore": ("auto restore", "one click", "fix photo", "restore", "automatic"),
    "RK_AdaptiveEnhance": ("auto enhance", "one click", "improve photo", "enhance", "auto fix"),
    "RK_AdaptiveFrequencyFilter": ("frequency filter", "spectral", "wiener", "block dct", "enhance detail"),
    "RK_AutoClahe": ("auto clahe", "histogram equalization", "local contrast", "automatic contrast"),
    "RK_CLAHE": ("clahe", "histogram equalization", "histogram equalisation", "ahe", "local contrast"),
    "RK_ColorEnhance": ("vibrance", "saturation", "white balance", "color", "colour", "oklab", "gray world"),
    "RK_FrequencyBands": ("frequency separation", "bands", "fft", "high pass", "low pass", "detail"),
    "RK_HomomorphicFilter": ("homomorphic", "uneven lighting", "illumination", "shadows", "vignetting"),
    "RK_MultiscaleDetail": ("detail", "local contrast", "laplacian pyramid", "clarity", "texture", "structure"),
    "RK_PhasePreservingEnhance": ("phase", "fourier", "amplitude spectrum", "spectral whitening", "detail"),
    "RK_Retinex": ("retinex", "msr", "msrcr", "msrcp", "multiscale retinex", "shadows", "low light"),
    # grain
    "RK_GrainAdd": ("film grain", "add grain", "noise", "grain synthesis", "av1 grain"),
    "RK_GrainAnalyze": ("grain", "film grain", "grain model", "measure grain", "av1 grain table"),
    "RK_GrainRemove": ("degrain", "remove grain", "film grain", "grain removal", "denoise"),
    "RK_GrainMatch": ("match grain", "film grain", "grain transfer", "copy grain"),
    # io
    "RK_LoadImage16bit": ("load 16-bit", "16 bit", "tiff", "png16", "high bit depth", "load image", "folder"),
    "RK_SaveImage16bit": ("save 16-bit", "16 bit", "tiff", "png16", "float tiff", "save image", "export"),
    # models
    "RK_LoadRestorationModel": ("load model", "drunet", "scunet", "swinir", "restormer", "nafnet", "esrgan",
                                "spandrel", "weights"),
    "RK_RestoreWithModel": ("restore", "neural denoise", "ai denoise", "upscale", "super resolution", "model"),
    # quality
    "RK_Compare": ("compare", "side by side", "before after", "grid", "psnr", "ssim", "zoom"),
    "RK_Difference": ("difference", "diff", "heat map", "error map", "subtract", "changes"),
    "RK_QualityMetrics": ("psnr", "ssim", "ms-ssim", "niqe", "brisque", "piqe", "iqa", "image quality", "metrics"),
    "RK_AnalyzeNoise": ("noise analysis", "noise type", "poisson", "jpeg blocking", "grain detection"),
    # sharpen
    "RK_DetailSharpen": ("sharpen", "guided filter", "high pass", "cas", "contrast adaptive sharpening",
                         "deconvolution sharpen"),
    "RK_SmartSharpen": ("sharpen", "smart sharpen", "no halo", "edge sharpen", "auto sharpen"),
    "RK_UnsharpMask": ("usm", "unsharp", "sharpen", "unsharp masking"),
}

#: Nodes being written at the time of this table: an entry may name them before they are registered.
PENDING = frozenset({"RK_GrainAnalyze", "RK_GrainRemove", "RK_GrainMatch"})


def aliases_for(node_id: str) -> list[str]:
    """The search aliases of a node (empty for a node without an entry)."""
    return list(SEARCH_ALIASES.get(node_id, ()))
