"""Built-in Denoiser: the compact denoiser whose weights ship with restorekit (no download, no file to pick)."""

from __future__ import annotations

import torch

from ...models.builtin import builtin_denoise
from ...models.restore import PRECISIONS
from ...params import Param, declare
from ...progress import ProgressCallback
from ..common import IMAGE, blend_param, image_output, report_output, sigma_param


def _run(
    image: torch.Tensor,
    sigma: float | None,
    mask: torch.Tensor | None,
    strength: float,
    tile: int,
    precision: str,
    progress: ProgressCallback | None = None,
) -> dict[str, object]:
    out, info = builtin_denoise(
        image, sigma=sigma, mask=mask, strength=strength, tile=tile, precision=precision, return_info=True,
        progress=progress,
    )
    levels = ", ".join(f"{255 * s:.2f}" for s in info.sigmas)
    tiles = "untiled" if info.tile == 0 else f"tiles {info.tile}px ({info.tiles} crops)"
    report = (
        f"Built-in denoiser: noise sigma ({info.mode}) per image: {levels} (0-255); strength {strength:g}; "
        f"{tiles}; precision {info.precision}; device {info.device}; {info.seconds:.3f} s."
    )
    return {"image": out, "report": report}


BUILTIN_DENOISER = declare(
    "builtin_denoiser",
    _run,
    display_name="Built-in Denoiser",
    category="models",
    description=(
        "Removes noise with restorekit's own compact network (a noise-level-conditional U-Net whose weights ship "
        "with the package: no download, works offline on CPU and GPU). Give the noise level, or 0 to estimate it "
        "from each image; an optional mask varies it per pixel."
    ),
    inputs=[
        IMAGE,
        sigma_param(help="Noise standard deviation in grey levels. 0 = estimate it from each image (blind)."),
        Param("mask", "mask", optional=True,
              help="Optional per-pixel weight of the noise level (0-1): the network gets sigma x mask, so 1 = the "
              "full level, 0 = treat that pixel as clean."),
        blend_param("Blend with the input: 1 = the denoised image, 0 = the input."),
        Param("tile", "int", 0, min=0, max=8192, step=8, units="pixels", advanced=True,
              help="Tile side for large images. 0 = automatic: the whole image when it fits in memory."),
        Param("precision", "choice", "auto", choices=PRECISIONS, advanced=True,
              help="auto = bf16 on a GPU that supports it (else fp16), fp32 on the CPU."),
    ],
    outputs=[
        image_output("The denoised image."),
        report_output("Noise level used per image and how it was chosen, tiling, precision, device and time."),
    ],
    gpu=True,
)
