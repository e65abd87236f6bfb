"""Sharpening operations: Unsharp Mask."""

from __future__ import annotations

import torch

from ..params import IMAGE, Output, Param, operation
from ..progress import ProgressCallback
from ..sharpen.unsharp import unsharp_mask


@operation(
    "unsharp_mask",
    display_name="Unsharp Mask",
    category="sharpen",
    description=(
        "Classic unsharp mask: adds back the detail a Gaussian blur removes. Sharpens luminance only by "
        "default (no colour fringes); the threshold leaves faint detail such as noise alone."
    ),
    inputs=[
        IMAGE,
        Param(
            "radius",
            "float",
            1.0,
            help=(
                "Size of the detail to sharpen, as the standard deviation (sigma) of the Gaussian blur. "
                "0.5-1.5 for fine detail, 3-50 for local contrast."
            ),
            min=0.1,
            max=100.0,
            step=0.1,
            units="pixels (Gaussian sigma)",
        ),
        Param(
            "amount",
            "float",
            1.0,
            help="How much of the detail is added back: 0 = unchanged, 1 = once, up to 5.",
            min=0.0,
            max=5.0,
            step=0.05,
        ),
        Param(
            "threshold",
            "float",
            0.0,
            help=(
                "Only detail stronger than this (difference between the image and its blur) is sharpened, "
                "fading in softly up to twice the threshold. 0 = sharpen everything."
            ),
            min=0.0,
            max=255.0,
            step=0.5,
            units="0-255 grey levels",
            scale=1 / 255,
        ),
        Param(
            "luminance_only",
            "bool",
            True,
            help="Sharpen brightness only and keep the colour (recommended); off = every RGB channel.",
        ),
    ],
    outputs=[Output("image", "image", "The sharpened image.")],
    gpu=True,
)
def run_unsharp_mask(
    image: torch.Tensor,
    radius: float,
    amount: float,
    threshold: float,
    luminance_only: bool,
    progress: ProgressCallback | None = None,
) -> dict[str, torch.Tensor]:
    out = unsharp_mask(
        image, radius=radius, amount=amount, threshold=threshold, luminance_only=luminance_only, progress=progress
    )
    return {"image": out}
