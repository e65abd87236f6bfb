"""Adaptive Frequency Filter (node RK_AdaptiveFrequencyFilter): block-STFT Wiener filtering."""

from __future__ import annotations

import torch

from ...enhance.adaptive_frequency import adaptive_frequency_filter
from ...params import Param, operation
from ...progress import ProgressCallback
from ..common import IMAGE, image_output, image_summary, report_output, sigma_param, text_table


@operation(
    "adaptive_frequency_filter",
    display_name="Adaptive Frequency Filter",
    category="enhance",
    description=(
        "Content-adaptive filtering in overlapping blocks' spectra: frequencies dominated by noise are "
        "suppressed (Wiener gain from the noise level), those carrying detail are kept or boosted. No brightness "
        "drift; reconstructs the image exactly when nothing is to be removed."
    ),
    inputs=[
        IMAGE,
        sigma_param(help="Noise standard deviation per channel. 0 = estimate it from each image (and channel)."),
        Param("strength", "float", 1.0, min=0.0, max=4.0, step=0.05,
              help="Multiplies the noise power the filter assumes: below 1 keeps more texture, above 1 removes "
              "more noise."),
        Param("detail_gain", "float", 1.0, min=1.0, max=4.0, step=0.05,
              help="Boost of frequencies well above the noise (local detail): 1 = none, 1.2-2 sharpens."),
        Param("block", "int", 16, min=8, max=64, step=8, units="pixels", advanced=True,
              help="Block side (a multiple of 8): larger separates frequencies more finely, smaller adapts to "
              "content more locally."),
        Param("passes", "int", 2, min=1, max=2, advanced=True,
              help="2 = Wiener filter guided by a first estimate (better), 1 = single pass (faster)."),
        Param("oversubtract", "float", 2.0, min=0.0, max=10.0, step=0.1, advanced=True,
              help="How much noise power the first pass subtracts, in multiples of the noise power."),
    ],
    outputs=[
        image_output("The filtered image."),
        report_output("Noise sigma used (0-255 grey levels, given or estimated), fraction of the spectrum kept and "
                      "the mean-brightness drift (0-255 grey levels)."),
    ],
)
def run_adaptive_frequency_filter(
    image: torch.Tensor,
    sigma: float | None,
    strength: float,
    detail_gain: float,
    block: int,
    passes: int,
    oversubtract: float,
    progress: ProgressCallback | None = None,
) -> dict[str, object]:
    out, info = adaptive_frequency_filter(
        image, sigma=sigma, block=block, strength=strength, detail_gain=detail_gain, passes=passes,
        oversubtract=oversubtract, return_info=True, progress=progress,
    )
    head = (
        f"Adaptive frequency filter, {image_summary(image)}: {block}x{block} blocks, half-block overlap, "
        f"{passes} pass{'es' if passes > 1 else ''}, strength {strength:g}, detail gain {detail_gain:g}."
    )
    source = "estimated" if info.sigma_estimated else "given"
    rows = [[str(i), f"{s * 255:.2f} ({source})", f"{k:.3f}", f"{d:.4f}"]
            for i, (s, k, d) in enumerate(zip(info.sigma, info.kept_fraction, info.drift, strict=True))]
    table = text_table(["image", "sigma (grey levels)", "mean gain", "drift (grey levels)"], rows)
    return {"image": out, "report": f"{head}\n{table}"}
