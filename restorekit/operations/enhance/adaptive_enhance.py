"""Adaptive Enhance: measures noise, blur and contrast and applies what each image needs."""

from __future__ import annotations

from ...enhance.adaptive import BLUR_THRESHOLD, NOISE_THRESHOLD, SPREAD_TARGET, adaptive_enhance
from ...params import Param, operation
from ..common import IMAGE, image_output, report_output, text_table


@operation(
    "adaptive_enhance",
    display_name="Adaptive Enhance",
    category="enhance",
    description=(
        "Measures each image's noise, blur and contrast, then denoises, raises local contrast and sharpens "
        "only as far as the measures call for, in that order. The report gives the measures, the steps taken "
        "and why each step was or was not taken."
    ),
    inputs=[
        IMAGE,
        Param("strength", "float", 1.0, min=0.0, max=2.0, step=0.05,
              help="Scales every step: 0 = unchanged, 1 = the measured amounts, up to 2 for a stronger result."),
        Param("denoise", "bool", True,
              help=f"Allow denoising (taken when the estimated noise is above {NOISE_THRESHOLD:g} grey levels)."),
        Param("contrast", "bool", True,
              help=f"Allow local contrast (CLAHE; taken when the luma 1-99 % spread is under {SPREAD_TARGET:g})."),
        Param("sharpen", "bool", True,
              help=f"Allow sharpening (Smart Sharpen; taken when the measured blur is above {BLUR_THRESHOLD:g} px)."),
    ],
    outputs=[image_output("The enhanced image."), report_output("Measures, steps taken and why, per image.")],
)
def run_adaptive_enhance(image, strength, denoise, contrast, sharpen, progress=None):
    out, decisions = adaptive_enhance(
        image, strength=strength, denoise=denoise, contrast=contrast, sharpen=sharpen, return_info=True,
        progress=progress,
    )
    rows = []
    for i, d in enumerate(decisions):
        a, b = d.before, d.after_denoise
        rows.append([str(i), f"{a.noise * 255:.1f}", f"{b.blur:.2f}", f"{b.spread:.2f}", "; ".join(d.steps) or "none"])
    lines = [text_table(["image", "noise (grey levels)", "blur (px)", "luma spread", "steps"], rows), ""]
    for i, d in enumerate(decisions):
        lines.append(f"image {i}: " + "; ".join(d.reasons))
    return {"image": out, "report": "\n".join(lines)}
