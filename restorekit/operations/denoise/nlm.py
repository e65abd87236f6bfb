"""Non-Local Means (node RK_NonLocalMeans): pixelwise NLM with IPOL weighting, torch on CPU or GPU."""

from __future__ import annotations

import torch

from ...denoise.nlm import CENTER_WEIGHTS, COLOR_MODES, NlmSettings, nlm_denoise
from ...params import Output, Param, operation
from ...progress import ProgressCallback
from ..common import IMAGE, sigma_param


def _format_report(
    settings: list[NlmSettings], *, sigma_given: bool, h_given: bool, color_mode: str, channels: int
) -> str:
    """One line per distinct setting; values in 0-255 grey levels."""

    def line(s: NlmSettings) -> str:
        return (
            f"sigma {s.sigma * 255:.2f} ({'given' if sigma_given else 'estimated'}), "
            f"h {s.h * 255:.2f} ({'given' if h_given else 'automatic'}), "
            f"patch {s.patch_size}x{s.patch_size}, window {s.window}x{s.window} (search radius {s.search_radius})"
        )

    colour = "gray" if channels == 1 else ("joint RGB distances" if color_mode == "joint" else "luma-guided weights")
    head = f"Non-local means (pixelwise, IPOL weighting), {colour}; sigma and h in 0-255 grey levels."
    lines = [line(s) for s in settings]
    if len(set(lines)) == 1:
        return f"{head}\n{lines[0]}"
    return "\n".join([head] + [f"image {i}: {text}" for i, text in enumerate(lines)])


@operation(
    "nlm_denoise",
    display_name="Non-Local Means",
    category="denoise",
    description=(
        "Non-local means denoising: each pixel becomes a weighted mean of the pixels around it whose "
        "neighbourhoods (patches) look alike. Noise level and filtering strength are found automatically; "
        "runs on the GPU when one is available."
    ),
    inputs=[
        IMAGE,
        sigma_param(
            help=(
                "Noise standard deviation per channel. 0 = estimate it from each image. It sets the automatic "
                "strength and is subtracted from patch distances (2 sigma^2), so similar patches count fully."
            )
        ),
        Param("h", "float", 0.0, min=0.0, max=255.0, step=0.5, units="0-255 grey levels", scale=1 / 255,
              zero_is_auto=True,
              help="Filtering strength h (weights exp(-max(d^2 - 2 sigma^2, 0) / h^2)). Larger = smoother. 0 = "
              "automatic: a tuned multiple of sigma (about 0.6-0.9 sigma)."),
        Param("strength", "float", 1.0, min=0.1, max=5.0, step=0.05,
              help="Multiplier on the automatic h: below 1 keeps more detail, above 1 smooths more. Ignored when h "
              "is set."),
        Param("patch_size", "int", 0, min=0, max=35, units="pixels", zero_is_auto=True,
              help="Side of the square patches compared, odd (3, 5, 7 ...). 0 = automatic by noise level.", advanced=True),
        Param("search_radius", "int", 0, min=0, max=50, units="pixels", zero_is_auto=True,
              help="How far (in pixels) to look for similar patches; the window is 2 x radius + 1 wide. 0 = "
              "automatic (5-7). Larger is slower and not always better.", advanced=True),
        Param("color_mode", "choice", "joint", choices=COLOR_MODES,
              help="Colour images: joint = patch distances over R, G and B together; luma = distances on luma only "
              "(faster), weights applied to all channels. Gray images ignore this."),
        Param("center_weight", "choice", "one", choices=CENTER_WEIGHTS, advanced=True,
              help="Weight of the pixel itself: one = the formula's value 1 (default, measured better); max = the "
              "largest weight of the other pixels (original 2005 paper)."),
    ],
    outputs=[
        Output("image", "image", "The denoised image."),
        Output("report", "string", "Noise sigma and h used (0-255 grey levels), patch size and search window."),
    ],
    gpu=True,
    node_suffix="NonLocalMeans",
)
def run_nlm_denoise(
    image: torch.Tensor,
    sigma: float | None,
    h: float | None,
    strength: float,
    patch_size: int | None,
    search_radius: int | None,
    color_mode: str,
    center_weight: str,
    progress: ProgressCallback | None = None,
) -> dict[str, object]:
    out, settings = nlm_denoise(
        image,
        sigma=sigma,
        h=h,
        strength=strength,
        patch_size=patch_size,
        search_radius=search_radius,
        color_mode=color_mode,
        center_weight=center_weight,
        progress=progress,
        return_info=True,
    )
    report = _format_report(
        settings, sigma_given=sigma is not None, h_given=h is not None, color_mode=color_mode, channels=image.shape[1]
    )
    return {"image": out, "report": report}
