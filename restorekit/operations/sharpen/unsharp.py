"""Unsharp Mask: the core function, declared as it is."""

from ...params import Param, declare
from ...sharpen.unsharp import unsharp_mask
from ..common import IMAGE, image_output

declare(
    "unsharp_mask",
    unsharp_mask,
    bind={"image": "x"},
    display_name="Unsharp Mask",
    category="sharpen",
    description=(
        "Classic unsharp mask: adds back the detail a Gaussian blur removes. Sharpens luminance only by "
        "default (no colour fringes); the threshold leaves faint detail such as noise alone."
    ),
    inputs=[
        IMAGE,
        Param("radius", "float", 1.0, min=0.1, max=100.0, step=0.1, units="pixels (Gaussian sigma)",
              help="Size of the detail to sharpen, as the standard deviation (sigma) of the Gaussian blur. 0.5-1.5 "
              "for fine detail, 3-50 for local contrast."),
        Param("amount", "float", 1.0, min=0.0, max=5.0, step=0.05,
              help="How much of the detail is added back: 0 = unchanged, 1 = once, up to 5."),
        Param("threshold", "float", 0.0, min=0.0, max=255.0, step=0.5, units="0-255 grey levels", scale=1 / 255,
              help="Only detail stronger than this (difference between the image and its blur) is sharpened, fading "
              "in softly up to twice the threshold. 0 = sharpen everything."),
        Param("luminance_only", "bool", True,
              help="Sharpen brightness only and keep the colour (recommended); off = every RGB channel."),
    ],
    outputs=[image_output("The sharpened image.")],
)
