"""Enhancement operations: CLAHE."""

from __future__ import annotations

import torch

from ..enhance.clahe import COLOR_SPACES, clahe
from ..params import IMAGE, Output, Param, operation
from ..progress import ProgressCallback


@operation(
    "clahe",
    display_name="CLAHE",
    category="enhance",
    description=(
        "Contrast-limited adaptive histogram equalisation: boosts local contrast tile by tile, with the clip "
        "limit stopping noise from being amplified. Colour images are equalised on lightness only. "
        "Settings mean the same as in OpenCV's createCLAHE."
    ),
    inputs=[
        IMAGE,
        Param(
            "clip_limit",
            "float",
            2.0,
            help=(
                "How much contrast may be added: histogram bins are clipped at this multiple of an even "
                "histogram's height (OpenCV's clipLimit). 1 = almost no change, 2-4 typical, 0 = no limit."
            ),
            min=0.0,
            max=40.0,
            step=0.1,
        ),
        Param(
            "tiles",
            "int",
            8,
            help="Tile grid size: the image is divided into tiles x tiles regions (OpenCV's tileGridSize).",
            min=1,
            max=64,
            units="tiles per side",
        ),
        Param(
            "color_space",
            "choice",
            "lab",
            choices=COLOR_SPACES,
            help=(
                "For colour images, whose lightness is equalised (colour is kept): lab = CIE L*, oklab = Oklab L, "
                "ycbcr = luma Y, hsv = value V. Gray images are equalised directly."
            ),
        ),
        Param(
            "strength",
            "float",
            1.0,
            help="Blend with the input: 0 = unchanged, 1 = full effect.",
            min=0.0,
            max=1.0,
            step=0.05,
        ),
        Param(
            "bins",
            "int",
            256,
            help="Histogram bins over the value range; 256 = one per 8-bit grey level.",
            min=16,
            max=4096,
            advanced=True,
        ),
    ],
    outputs=[Output("image", "image", "The contrast-enhanced image.")],
    gpu=True,
    node_suffix="CLAHE",
)
def run_clahe(
    image: torch.Tensor,
    clip_limit: float,
    tiles: int,
    color_space: str,
    strength: float,
    bins: int,
    progress: ProgressCallback | None = None,
) -> dict[str, torch.Tensor]:
    out = clahe(
        image,
        clip_limit=clip_limit,
        tiles=tiles,
        bins=bins,
        color_space=color_space,
        strength=strength,
        progress=progress,
    )
    return {"image": out}
