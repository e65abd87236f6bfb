"""Restore Pipeline (node RK_RestorePipeline): denoise -> deblur -> contrast -> colour -> sharpen, one operation each."""

from __future__ import annotations

import torch

from ...deblur.psf import PSF
from ...params import Param, operation
from ...pipelines.restore import CONTRAST_METHODS, DEBLUR_METHODS, DENOISE_METHODS, PRESETS, restore_pipeline
from ...progress import ProgressCallback
from ..common import IMAGE, choice_param, image_output, report_output


def _toggle(name: str, what: str) -> Param:
    return Param(name, "bool", True, help=f"Run the {what} stage (off = reported as off).")


@operation(
    "restore_pipeline",
    display_name="Restore Pipeline",
    category="pipeline",
    description=(
        "One node for a whole restoration: denoise, deblur (with the given PSF or one estimated per image), "
        "contrast, colour and sharpen, each stage one restorekit operation. A preset sets how far it goes; "
        "each stage can be turned off, its method chosen and any of its parameters overridden. The report "
        "lists, per stage, the operation, its parameters, the time and the noise, sharpness and contrast "
        "before and after."
    ),
    inputs=[
        IMAGE,
        choice_param("preset", "balanced", PRESETS,
                     "How strong the enhancing stages are: conservative < balanced < strong < maximum (CLAHE clip "
                     "limit, vibrance, sharpening amount, deconvolution iterations). Denoising always follows the "
                     "measured noise."),
        _toggle("denoise", "denoise"),
        _toggle("deblur", "deblur (deconvolution)"),
        _toggle("contrast", "contrast"),
        _toggle("color", "colour (vibrance)"),
        _toggle("sharpen", "sharpen"),
        choice_param("denoise_method", "auto", DENOISE_METHODS,
                     "auto = the connected model, else the built-in denoiser (when installed), else BM3D on a GPU "
                     "and wavelet SureShrink on the CPU; wavelet, bm3d, nlm (non-local means), tv (total variation), "
                     "model (needs the model input) or builtin.",
                     advanced=True),
        choice_param("deblur_method", "wiener", DEBLUR_METHODS,
                     "wiener = Wiener deconvolution (fast); richardson_lucy = iterative, TV-regularised; bm3d = BM3D "
                     "deblurring (best, slow).", advanced=True),
        choice_param("contrast_method", "clahe", CONTRAST_METHODS,
                     "clahe = local histogram equalisation; auto_clahe = CLAHE with parameters chosen per image; "
                     "retinex = multiscale Retinex; stretch = linear stretch about the mean to a target spread.",
                     advanced=True),
        Param("overrides", "string", "", multiline=True, advanced=True,
              help="Parameters of the stages' operations, one per line as stage.parameter=value in node units "
              "(e.g. sharpen.amount=0.8, denoise.sigma=20, contrast.clip_limit=2.5). Stages: denoise, deblur, "
              "contrast, color, sharpen. An unknown stage or parameter is an error."),
        Param("model", "model", optional=True,
              help="Optional restoration model (Load Restoration Model) used by the denoise stage; nothing is "
              "ever loaded or downloaded by this node."),
        Param("psf", "psf", optional=True,
              help="Optional blur kernel for the deblur stage (Make PSF, Estimate Blur); without it the PSF is "
              "estimated per image."),
    ],
    outputs=[
        image_output("The restored image."),
        report_output("Per stage: operation, parameters, seconds, and noise (0-255 grey levels), sharpness "
                      "(Laplacian variance) and RMS contrast before -> after, averaged over the batch."),
    ],
    gpu=True,
)
def run_restore_pipeline(
    image: torch.Tensor,
    preset: str,
    denoise: bool,
    deblur: bool,
    contrast: bool,
    color: bool,
    sharpen: bool,
    denoise_method: str,
    deblur_method: str,
    contrast_method: str,
    overrides: str,
    model: object | None = None,
    psf: PSF | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, object]:
    result = restore_pipeline(
        image, preset=preset, denoise=denoise, deblur=deblur, contrast=contrast, color=color, sharpen=sharpen,
        denoise_method=denoise_method, deblur_method=deblur_method, contrast_method=contrast_method,
        overrides=overrides or "", model=model, psf=psf, progress=progress,
    )
    return {"image": result.image, "report": result.report}
