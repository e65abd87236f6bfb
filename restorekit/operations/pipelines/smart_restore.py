"""Smart Restore (node RK_SmartRestore): analyse each image, build its pipeline, report the reasoning."""

from __future__ import annotations

import torch

from ...params import Param, operation
from ...pipelines.restore import DENOISE_METHODS
from ...pipelines.smart import smart_restore
from ...progress import ProgressCallback
from ..common import IMAGE, choice_param, image_output, report_output


@operation(
    "smart_restore",
    display_name="Smart Restore",
    category="pipeline",
    description=(
        "Measures each image (noise level and type, blur, contrast, colour cast, grain), builds the "
        "restoration pipeline from those measures (denoise, deblur or sharpen, contrast, white balance) and "
        "reports its reasoning stage by stage, including which stages it skipped and why. It uses a model "
        "only when one is connected and never downloads anything."
    ),
    inputs=[
        IMAGE,
        Param("strength", "float", 1.0, min=0.0, max=2.0, step=0.05,
              help="Scales every stage: 0 = the input unchanged, 1 = as measured, 2 = stronger (denoising sigma, "
              "contrast stretch, sharpening amount)."),
        Param("allow_deblur", "bool", True,
              help="May deconvolve with the blur estimated from the image (off = at most sharpen)."),
        Param("preserve_grain", "bool", True,
              help="Keep film grain found by the blind grain analysis instead of denoising it away."),
        choice_param("denoise_method", "auto", DENOISE_METHODS,
                     "auto = the connected model, else the built-in denoiser (shipped weights), else BM3D on a GPU "
                     "and wavelet SureShrink on the CPU; or wavelet, bm3d, nlm, tv, model, builtin.", advanced=True),
        Param("model", "model", optional=True,
              help="Optional restoration model (Load Restoration Model) for the denoise stage; never downloaded "
              "here (without it, auto uses the built-in denoiser shipped with restorekit)."),
    ],
    outputs=[
        image_output("The restored image."),
        report_output("Per image: what was measured, which degradations were found, and per stage the operation, "
                      "parameters, seconds and noise / sharpness / contrast before -> after, or why it was skipped."),
    ],
    gpu=True,
)
def run_smart_restore(
    image: torch.Tensor,
    strength: float,
    allow_deblur: bool,
    preserve_grain: bool,
    denoise_method: str,
    model: object | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, object]:
    result = smart_restore(image, strength=strength, allow_deblur=allow_deblur, preserve_grain=preserve_grain,
                           denoise_method=denoise_method, model=model, progress=progress)
    return {"image": result.image, "report": result.report}
