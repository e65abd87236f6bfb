"""Retinex (node RK_Retinex): multiscale Retinex MSR / MSRCR / MSRCP after IPOL 2014, with a report."""

from __future__ import annotations

import torch

from ...enhance.retinex import METHODS, SCALE_UNITS, retinex
from ...errors import InvalidParameterError
from ...params import Output, Param, operation
from ...progress import ProgressCallback
from ...quality.lightness_order import lightness_order_error
from ..common import IMAGE, blend_param, choice_param, image_output, text_table

_LABELS = {"msrcp": "MSRCP", "msrcr": "MSRCR", "msr": "MSR"}


def _scale_param(name: str, default: float, which: str) -> Param:
    return Param(
        name, "float", default, min=0.0, max=2000.0, step=1.0,
        units="pixels (Gaussian sigma), or thousandths of the longer side when scale unit is relative",
        help=f"The {which} surround: standard deviation of the Gaussian the image is compared with. 0 = not used "
        "(at least one scale must be above 0).",
    )


@operation(
    "retinex",
    display_name="Retinex",
    category="enhance",
    description=(
        "Multiscale Retinex (Petro, Sbert, Morel, IPOL 2014): each pixel is compared with Gaussian averages of its "
        "surroundings at several sizes, which evens out uneven lighting and lifts shadows, then the result is "
        "stretched to the full range. MSRCP works on the intensity and keeps the colours (recommended); MSRCR "
        "and MSR work per RGB channel. Never black: images with nothing to stretch are returned unchanged."
    ),
    inputs=[
        IMAGE,
        choice_param("method", "msrcp", METHODS,
                     "msrcp = Retinex on the intensity, R:G:B ratios kept (natural colours); msrcr = per channel with "
                     "Jobson's colour restoration (alpha 125, beta 46); msr = per channel, no colour restoration. "
                     "Gray images get the same Retinex with every method."),
        _scale_param("scale_small", 15.0, "small (fine detail)"),
        _scale_param("scale_medium", 80.0, "medium"),
        _scale_param("scale_large", 250.0, "large (overall lighting)"),
        choice_param("scale_unit", "pixels", SCALE_UNITS,
                     "pixels = scales in pixels (IPOL's 15, 80, 250); relative = thousandths of the image's longer "
                     "side, so the look does not change with resolution (on a 4K image 15, 80, 250 become 58, 307, "
                     "960 px).", advanced=True),
        Param("low_clip", "float", 1.0, min=0.0, max=49.0, step=0.1, units="percent of the pixels",
              help="Simplest colour balance: share of the darkest values sent to black before stretching (IPOL's 1).", advanced=True),
        Param("high_clip", "float", 1.0, min=0.0, max=49.0, step=0.1, units="percent of the pixels",
              help="Simplest colour balance: share of the brightest values sent to white before stretching "
              "(IPOL's 1).", advanced=True),
        blend_param(),
        Param("max_gain", "float", 0.0, min=0.0, max=1000.0, step=0.5, units="times", zero_is_auto=True,
              advanced=True,
              help="MSRCP only: largest brightening factor of a pixel. 0 = no limit other than keeping colours "
              "in range (the paper's formula); 3 = the IPOL demo code's cap, which keeps noise in deep shadows "
              "down but brightens dark images less. Values from 1."),
    ],
    outputs=[
        image_output("The Retinex-enhanced image."),
        Output("report", "string", "Method, scales in pixels, clipping used and the lightness-order error (LOE) "
               "of each result against its input."),
    ],
)
def run_retinex(
    image: torch.Tensor,
    method: str,
    scale_small: float,
    scale_medium: float,
    scale_large: float,
    scale_unit: str,
    low_clip: float,
    high_clip: float,
    strength: float,
    max_gain: float | None,
    progress: ProgressCallback | None = None,
) -> dict[str, object]:
    scales = tuple(s for s in (scale_small, scale_medium, scale_large) if s > 0)
    if not scales:
        raise InvalidParameterError(
            "scale_small", "all three scales are 0.", "set at least one scale above 0, e.g. 15, 80, 250."
        )
    if max_gain is not None and max_gain < 1.0:
        raise InvalidParameterError(
            "max_gain", f"a limit below 1 ({max_gain:g}) would darken the image.", "give 0 (no limit) or 1 and above."
        )
    out, info = retinex(
        image, method=method, scales=scales, scale_unit=scale_unit, low_clip=low_clip, high_clip=high_clip,
        max_gain=max_gain, strength=strength, return_info=True, progress=progress,
    )
    loe = lightness_order_error(out, image).tolist()
    unchanged = info.unchanged.tolist()
    channels = "intensity" if method == "msrcp" and image.shape[1] == 3 else ("gray" if image.shape[1] == 1 else "RGB")
    scale_text = ", ".join(f"{s:.3g}" for s in info.scales_px)
    unit_note = f" ({', '.join(f'{s:g}' for s in scales)} per 1000 px of the longer side)" if scale_unit == "relative" else ""
    lines = [
        f"Retinex {_LABELS[method]} (IPOL 2014) on {channels}; scales {scale_text} px (Gaussian sigma){unit_note}.",
        f"Simplest colour balance: {low_clip:g}% clipped to black, {high_clip:g}% to white"
        + (f"; gain limit {max_gain:g}x" if method == "msrcp" and max_gain is not None else "")
        + (f"; strength {strength:g}" if strength < 1 else "") + ".",
        "LOE = lightness-order error vs the input (Wang et al. 2013, 50-px grid; 0 = order of brightness kept):",
        text_table(
            ["image", "LOE", "note"],
            [[str(i), f"{v:.1f}", "nothing to stretch, unchanged" if u else ""]
             for i, (v, u) in enumerate(zip(loe, unchanged, strict=True))],
        ),
    ]
    return {"image": out, "report": "\n".join(lines)}
