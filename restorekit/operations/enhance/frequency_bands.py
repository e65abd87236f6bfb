"""Frequency Bands (node RK_FrequencyBands): N octave bands with a gain each, plus band previews."""

from __future__ import annotations

import torch

from ...enhance.bands import METHODS, band_preview, frequency_bands, interpolate_gains, parse_gains
from ...params import Output, Param, operation
from ...progress import ProgressCallback
from ..common import IMAGE, choice_param, image_output


def band_gains(bands: int, fine_gain: float, coarse_gain: float, gains: str) -> list[float]:
    """The gain of every band: from the ``gains`` text when it is not blank, else from fine to coarse."""
    if gains.strip():
        return parse_gains(gains, bands)
    return interpolate_gains(bands, fine_gain, coarse_gain)


@operation(
    "frequency_bands",
    display_name="Frequency Bands",
    category="enhance",
    description=(
        "Splits the image into 2-8 frequency bands an octave apart (periods of 2-4 px, 4-8 px, ... and a coarse "
        "residual), multiplies each band by its gain and adds them back. Unit gains give back the input exactly; "
        "the mean brightness is always kept. The second output shows the bands side by side."
    ),
    inputs=[
        IMAGE,
        Param("bands", "int", 4, min=2, max=8, units="bands",
              help="Number of bands. Band 1 holds the finest detail (periods of 2-4 px), each next band structures "
              "twice as large, the last band everything coarser (the residual)."),
        choice_param("method", "fft", METHODS,
                     "How the image is split: fft = smooth masks on the spectrum (one-octave soft transitions, no "
                     "ringing); laplacian = Laplacian pyramid (5-tap binomial kernel). Both add up exactly."),
        Param("fine_gain", "float", 1.5, min=0.0, max=10.0, step=0.05,
              help="Gain of the finest band; the bands in between go in even steps to the coarse gain. 1 = "
              "unchanged, above 1 sharpens, below 1 softens, 0 removes the band."),
        Param("coarse_gain", "float", 1.0, min=0.0, max=10.0, step=0.05,
              help="Gain of the coarsest band (the residual), applied about the image mean: below 1 flattens the "
              "large-scale lighting, above 1 deepens it."),
        Param("gains", "string", "",
              help="Optional: one gain per band, finest first, separated by commas (e.g. 1.6, 1.3, 1, 0.9). "
              "Overrides fine and coarse gain; with fewer values than bands the last one repeats. Empty = use "
              "fine and coarse gain."),
        Param("preview_contrast", "float", 4.0, min=0.5, max=50.0, step=0.5, advanced=True,
              help="Band previews show detail bands as 0.5 + contrast x band (mid grey = no detail); the residual "
              "is shown as it is."),
        Param("preview_size", "int", 512, min=0, max=8192, units="pixels", advanced=True,
              help="Longer side of each preview tile; larger images are scaled down for the preview (never up). "
              "0 = full size."),
    ],
    outputs=[
        image_output("The image with every band scaled by its gain."),
        Output("band_previews", "image",
               "One image per input: its bands side by side, finest on the left, the residual on the right.",
               alpha=False),
    ],
)
def run_frequency_bands(
    image: torch.Tensor,
    bands: int,
    method: str,
    fine_gain: float,
    coarse_gain: float,
    gains: str,
    preview_contrast: float,
    preview_size: int,
    progress: ProgressCallback | None = None,
) -> dict[str, torch.Tensor]:
    values = band_gains(bands, fine_gain, coarse_gain, gains)
    out = frequency_bands(image, gains=values, method=method, progress=progress)
    preview = band_preview(image, bands, method=method, contrast=preview_contrast, tile=preview_size)
    return {"image": out, "band_previews": preview}
