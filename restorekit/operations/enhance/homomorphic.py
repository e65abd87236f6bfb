"""Homomorphic Filter (node RK_HomomorphicFilter): log-domain illumination/reflectance filtering."""

from __future__ import annotations

import torch

from ...enhance.homomorphic import CUTOFF_MODES, homomorphic_filter
from ...params import Param, operation
from ...progress import ProgressCallback
from ..common import IMAGE, blend_param, choice_param, image_output, image_summary, report_output, text_table


@operation(
    "homomorphic_filter",
    display_name="Homomorphic Filter",
    category="enhance",
    description=(
        "Separates illumination from reflectance in the log domain: evens out uneven lighting (lifts shadows, "
        "tames highlights) and strengthens detail. Mean brightness is kept; colour images are filtered on "
        "luminance, with R, G and B scaled alike so colours are kept."
    ),
    inputs=[
        IMAGE,
        Param("cutoff", "float", 8.0, min=0.1, max=1000.0, step=0.5, units="cycles per image (longer side)",
              help="Where illumination gives way to detail: structures larger than about 1/cutoff of the image "
              "count as lighting. Relative to the image size, so any resolution gives the same look."),
        Param("gamma_low", "float", 0.6, min=0.0, max=10.0, step=0.05,
              help="Gain on the (log) illumination: below 1 compresses the lighting range (0.3-0.8 typical), "
              "1 leaves it."),
        Param("gamma_high", "float", 1.4, min=0.0, max=10.0, step=0.05,
              help="Gain on the (log) reflectance detail: above 1 boosts detail (1.2-2 typical), 1 leaves it."),
        blend_param(),
        Param("per_channel", "bool", False, advanced=True,
              help="Filter R, G and B separately (can also even out a colour cast of the lighting) instead of "
              "luminance only."),
        choice_param("cutoff_mode", "relative", CUTOFF_MODES, advanced=True,
                     help="relative = cutoff in cycles per image (resolution independent); absolute = cycles per "
                     "1024 pixels, fixed in pixels whatever the image size."),
    ],
    outputs=[
        image_output("The filtered image."),
        report_output("Gains and cutoff used, the brightness gain applied and the remaining mean-brightness drift "
                      "(0-255 grey levels)."),
    ],
)
def run_homomorphic_filter(
    image: torch.Tensor,
    cutoff: float,
    gamma_low: float,
    gamma_high: float,
    strength: float,
    per_channel: bool,
    cutoff_mode: str,
    progress: ProgressCallback | None = None,
) -> dict[str, object]:
    out, info = homomorphic_filter(
        image, cutoff=cutoff, gamma_low=gamma_low, gamma_high=gamma_high, cutoff_mode=cutoff_mode,
        per_channel=per_channel, strength=strength, return_info=True, progress=progress,
    )
    colour = "gray" if image.shape[1] == 1 else ("per channel" if per_channel else "luminance (RGB scaled alike)")
    head = (
        f"Homomorphic filter, {image_summary(image)}, {colour}: gamma_low {gamma_low:g}, gamma_high {gamma_high:g}, "
        f"cutoff {info.cutoff_cycles_per_image:.3g} cycles/image ({info.cutoff_cycles_per_px:.4g} cycles/px, "
        f"{cutoff_mode}), strength {strength:g}."
    )
    rows = [[str(i), f"{g:.3f}", f"{d:.4f}"] for i, (g, d) in enumerate(zip(info.brightness_gain, info.drift,
                                                                          strict=True))]
    table = text_table(["image", "brightness gain", "drift (grey levels)"], rows)
    return {"image": out, "report": f"{head}\n{table}"}
