"""Colour Enhance (node RK_ColorEnhance): Oklab vibrance/saturation, skin protection, gamut mapping, white balance."""

from __future__ import annotations

import torch

from ...enhance.color_enhance import ColorEnhanceInfo, color_enhance
from ...enhance.white_balance import METHODS
from ...params import Param, operation
from ...progress import ProgressCallback
from ..common import IMAGE, blend_param, choice_param, image_output, report_output, text_table


def _format_report(info: ColorEnhanceInfo, settings: str, white_balance: str) -> str:
    if info.gray:
        return f"Colour Enhance ({settings}): gray image, colour operations do not apply; returned unchanged."
    head = [
        f"Colour Enhance in Oklab ({settings}).",
        "dE_OK: mean Oklab distance moved (1 = white to black; about 0.02 is just visible); dC: mean chroma "
        "change; gamut-mapped: pixels whose chroma was cut to fit sRGB (no channel clipped).",
    ]
    if white_balance != "none":
        head.append("White balance: per-channel gains in linear light; illuminant as linear RGB scaled to max 1, "
                    "colour temperature by McCamy's formula.")
    columns = ["image", "dE_OK", "dC", "gamut-mapped"]
    if info.illuminant is not None:
        columns[1:1] = ["illuminant R G B", "CCT"]
    delta_e, chroma = info.delta_e.tolist(), info.chroma_change.tolist()
    mapped = info.gamut_mapped.tolist()
    illuminant = cct = None
    if info.illuminant is not None and info.cct is not None:
        e = info.illuminant.float()
        illuminant = (e / e.amax(dim=1, keepdim=True).clamp(min=1e-12)).tolist()
        cct = info.cct.tolist()
    rows = []
    for i in range(len(delta_e)):
        row = [str(i), f"{delta_e[i]:.4f}", f"{chroma[i]:+.4f}", f"{mapped[i]} ({100 * mapped[i] / info.pixels:.2f} %)"]
        if illuminant is not None and cct is not None:
            temperature = f"{cct[i]:.0f} K" if cct[i] == cct[i] and 1000 <= cct[i] <= 25000 else "n/a"
            row[1:1] = [" ".join(f"{v:.3f}" for v in illuminant[i]), temperature]
        rows.append(row)
    return "\n".join([*head, text_table(columns, rows)])


@operation(
    "color_enhance",
    display_name="Colour Enhance",
    category="enhance",
    description=(
        "Perceptual colour boost in Oklab: vibrance (lifts muted colours most), saturation, skin-tone protection "
        "and automatic white balance (gray world or white patch, done in linear light). Lightness and hue are "
        "kept; colours that would leave sRGB get less chroma instead of being clipped. Gray images pass unchanged."
    ),
    inputs=[
        IMAGE,
        Param("vibrance", "float", 0.3, min=-1.0, max=1.0, step=0.05,
              help="Chroma boost that favours muted colours: a colour of Oklab chroma C is multiplied by "
              "1 + vibrance x (1 - C/0.32)^2, so strong colours barely change. Negative mutes. 0 = none."),
        Param("saturation", "float", 0.0, min=-1.0, max=1.0, step=0.05,
              help="Uniform chroma factor 1 + saturation for every colour: -1 = gray, 0 = none, 1 = double."),
        Param("skin_protection", "float", 0.8, min=0.0, max=1.0, step=0.05,
              help="How much less skin tones are boosted (OkLCh hue band around 50 degrees, moderate chroma): "
              "the boost in the middle of the band is multiplied by 1 - this. 0 = off, 1 = skin not boosted."),
        choice_param("white_balance", "none", METHODS,
                     "Automatic white balance, applied first with per-channel gains in linear light: gray_world = "
                     "the scene averages to gray; white_patch = the brightest unclipped colours are white; none = off."),
        Param("white_percentile", "float", 99.0, min=50.0, max=100.0, step=0.1, units="percent", advanced=True,
              help="For white_patch: which percentile of each linear channel is taken as white (pixels with a "
              "clipped channel are left out). Lower is more robust to small highlights, 100 = the brightest pixel."),
        blend_param(),
    ],
    outputs=[
        image_output("The colour-enhanced image."),
        report_output("Per image: estimated illuminant (linear RGB and colour temperature), mean dE_OK moved, "
                      "mean chroma change, pixels that needed gamut mapping."),
    ],
)
def run_color_enhance(
    image: torch.Tensor,
    vibrance: float,
    saturation: float,
    skin_protection: float,
    white_balance: str,
    white_percentile: float,
    strength: float,
    progress: ProgressCallback | None = None,
) -> dict[str, object]:
    out, info = color_enhance(
        image,
        vibrance=vibrance,
        saturation=saturation,
        skin_protection=skin_protection,
        white_balance=white_balance,
        white_percentile=white_percentile,
        strength=strength,
        return_info=True,
        progress=progress,
    )
    wb = white_balance if white_balance != "white_patch" else f"white_patch {white_percentile:g} %"
    settings = (f"vibrance {vibrance:+.2f}, saturation {saturation:+.2f}, skin protection {skin_protection:.2f}, "
                f"white balance {wb}, strength {strength:.2f}")
    return {"image": out, "report": _format_report(info, settings, white_balance)}
