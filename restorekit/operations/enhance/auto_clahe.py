"""Auto CLAHE (node RK_AutoClahe): CLAHE with clip limit and tile grid chosen per image, with a report."""

from __future__ import annotations

import torch

from ...enhance.auto_clahe import CLIP_SWEEP, TILE_SWEEP, AutoClaheChoice, auto_clahe
from ...enhance.clahe import COLOR_SPACES, MAPPINGS
from ...params import Param, operation
from ...progress import ProgressCallback
from ..common import IMAGE, blend_param, choice_param, image_output, report_output, text_table


def _format_report(choices: list[AutoClaheChoice], analysis_size: int) -> str:
    head = (
        f"Auto CLAHE (entropy-curvature criterion, Min et al. 2013) on a {analysis_size}x{analysis_size} copy of "
        f"the lightness: clip limit from {CLIP_SWEEP[0]:g}-{CLIP_SWEEP[-1]:g} on an 8x8 grid, then the grid from "
        f"{TILE_SWEEP[0]}-{TILE_SWEEP[-1]} tiles per side. Entropy in bits of a 64-level histogram (max 6)."
    )
    rows = [
        [str(i), f"{c.clip_limit:g}", f"{c.tiles}x{c.tiles}", f"{c.entropy_input:.3f}", f"{c.entropy_output:.3f}"]
        for i, c in enumerate(choices)
    ]
    return head + "\n" + text_table(["image", "clip limit", "tiles", "entropy in", "entropy out"], rows)


@operation(
    "auto_clahe",
    display_name="Auto CLAHE",
    category="enhance",
    description=(
        "CLAHE that sets itself: for every image, the clip limit and the tile grid are chosen where the entropy "
        "of the result stops growing fast (the point of maximum curvature of the entropy curve), measured on a "
        "small copy. Colour images are equalised on lightness only. The report lists the choice per image."
    ),
    inputs=[
        IMAGE,
        choice_param("color_space", "lab", COLOR_SPACES,
                     "For colour images, whose lightness is analysed and equalised (colour is kept): lab = CIE L*, "
                     "oklab = Oklab L, ycbcr = luma Y, hsv = value V. Gray images are equalised directly."),
        blend_param(),
        Param("analysis_size", "int", 240, min=48, max=1920, step=48, units="pixels", advanced=True,
              help="Side of the square copy the parameter sweep runs on, a multiple of 48. Larger = closer to a "
              "full-resolution sweep, slower."),
        choice_param("mapping", "auto", MAPPINGS,
                     "How each tile's mapping is read inside a histogram bin: lookup = one value per bin (OpenCV's "
                     "rule); linear = interpolated at the exact value (keeps 16-bit and float precision); auto = "
                     "lookup for 8-bit images, linear otherwise.", advanced=True),
    ],
    outputs=[
        image_output("The contrast-enhanced image."),
        report_output("Clip limit and tile grid chosen per image, with the entropies they were based on."),
    ],
)
def run_auto_clahe(
    image: torch.Tensor,
    color_space: str,
    strength: float,
    analysis_size: int,
    mapping: str,
    progress: ProgressCallback | None = None,
) -> dict[str, object]:
    out, choices = auto_clahe(
        image, color_space=color_space, strength=strength, analysis_size=analysis_size, mapping=mapping,
        return_info=True, progress=progress,
    )
    return {"image": out, "report": _format_report(choices, analysis_size)}
