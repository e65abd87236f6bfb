"""Auto-tune Denoiser: a classical denoiser's strength chosen without a clean reference."""

from __future__ import annotations

import torch

from ...denoise.autotune import CRITERIA, DENSITIES, autotune_denoiser
from ...denoise.autotune import METHODS as TUNE_METHODS
from ...params import Output, Param, operation
from ...progress import ProgressCallback
from ..common import IMAGE


@operation(
    "autotune_denoiser",
    display_name="Auto-tune Denoiser",
    category="denoise",
    description=(
        "Chooses a classical denoiser's strength per image without a clean reference, by the Noise2Self "
        "self-supervised (J-invariant) loss or, for white Gaussian noise, Stein's unbiased risk estimate, and "
        "returns the result with the chosen parameters."
    ),
    inputs=[
        IMAGE,
        Param("method", "choice", "wavelet", choices=TUNE_METHODS,
              help="Denoiser to tune: wavelet (sigma scale and threshold rule), nlm (strength h) or bm3d (sigma "
              "scale; only where BM3D is installed)."),
        Param("density", "choice", "normal", choices=DENSITIES,
              help="Search grid: coarse (5 strengths), normal (5 + 2 refined), fine (7 + 4 refined). Each point "
              "costs 2 (SURE) or 4 (Noise2Self) denoiser passes."),
        Param("criterion", "choice", "auto", choices=CRITERIA, advanced=True,
              help="How settings are scored without a clean image: sure = Stein's unbiased risk estimate (white "
              "Gaussian noise); noise2self = J-invariant masked loss (any pixel-independent noise); auto = SURE when "
              "the noise analyses as white Gaussian, else Noise2Self."),
    ],
    outputs=[
        Output("image", "image", "The image denoised with the chosen parameters."),
        Output("parameters", "string", "The chosen parameters (sigma in 0-255 grey levels), per image if they differ."),
        Output("report", "string", "The loss of every candidate per image and the chosen one."),
    ],
    gpu=True,
)
def run_autotune_denoiser(
    image: torch.Tensor, method: str, density: str, criterion: str, progress: ProgressCallback | None = None
) -> dict[str, object]:
    _, result = autotune_denoiser(
        image, method=method, density=density, criterion=criterion, return_info=True, progress=progress
    )
    return {"image": result.image, "parameters": result.parameters_text(), "report": result.report()}
