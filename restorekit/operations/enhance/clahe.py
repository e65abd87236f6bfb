"""CLAHE: the core function, declared as it is."""

from ...enhance.clahe import COLOR_SPACES, MAPPINGS, clahe
from ...params import Param, declare
from ..common import IMAGE, blend_param, choice_param, image_output

declare(
    "clahe",
    clahe,
    bind={"image": "x"},
    display_name="CLAHE",
    category="enhance",
    description=(
        "Contrast-limited adaptive histogram equalisation: boosts local contrast tile by tile, with the clip "
        "limit stopping noise from being amplified. Colour images are equalised on lightness only. "
        "Settings mean the same as in OpenCV's createCLAHE."
    ),
    inputs=[
        IMAGE,
        Param("clip_limit", "float", 2.0, min=0.0, max=40.0, step=0.1,
              help="How much contrast may be added: histogram bins are clipped at this multiple of an even "
              "histogram's height (OpenCV's clipLimit). 1 = almost no change, 2-4 typical, 0 = no limit."),
        Param("tiles", "int", 8, min=1, max=64, units="tiles per side",
              help="Tile grid size: the image is divided into tiles x tiles regions (OpenCV's tileGridSize)."),
        choice_param("color_space", "lab", COLOR_SPACES,
                     "For colour images, whose lightness is equalised (colour is kept): lab = CIE L*, oklab = Oklab "
                     "L, ycbcr = luma Y, hsv = value V. Gray images are equalised directly."),
        blend_param(),
        Param("bins", "int", 256, min=16, max=4096, advanced=True,
              help="Histogram bins over the value range; 256 = one per 8-bit grey level."),
        choice_param("mapping", "auto", MAPPINGS,
                     "How each tile's mapping is read inside a histogram bin: lookup = one value per bin (OpenCV's "
                     "rule); linear = interpolated at the exact value (keeps 16-bit and float precision); auto = "
                     "lookup for 8-bit images, linear otherwise.", advanced=True),
    ],
    outputs=[image_output("The contrast-enhanced image.")],
    node_suffix="CLAHE",
)
