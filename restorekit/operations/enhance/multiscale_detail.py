"""Multiscale Detail (node RK_MultiscaleDetail): fine / medium / coarse / base gains, with a report."""

from __future__ import annotations

import torch

from ...enhance.multiscale import COLOR_MODES, METHODS, SIZE_UNITS, MultiscaleInfo, multiscale_detail
from ...params import Param, operation
from ...progress import ProgressCallback
from ..common import IMAGE, choice_param, image_output, image_summary, report_output


def format_report(info: MultiscaleInfo, image: torch.Tensor, band_size: float, size_units: str) -> str:
    """Gains, band sizes in px (and as % of the longer side), how detail was split, how much was clipped."""
    long_side = max(image.shape[-2:])
    s1, s2, s3 = info.sizes_px
    fine, medium, coarse, base = info.gains

    def px(v: float) -> str:
        return f"{v:.1f} px ({100 * v / long_side:.2f}% of {long_side} px)"

    colour = {"oklab": "Oklab lightness (colour kept)", "luma": "luma (same change on R, G, B)",
              "rgb": "every RGB channel", "gray": "gray"}[info.color]
    lines = [
        f"Multiscale detail ({info.method}) on {colour}, {image_summary(image)}.",
        f"fine   < {px(s1)}: gain {fine:g}",
        f"medium {s1:.1f}-{s2:.1f} px: gain {medium:g}",
        f"coarse {s2:.1f}-{s3:.1f} px: gain {coarse:g}",
        f"base   > {s3:.1f} px: gain {base:g} (about the mean; mean brightness kept)",
    ]
    if info.size_raised:
        given = f"{band_size:g}%" if size_units == "percent" else f"{band_size:g} px"
        lines.append(f"band size {given} is below 4 px here and was raised to 4 px.")
    if info.level_bands:
        counts = {name: info.level_bands.count(name) for name in ("fine", "medium", "coarse", "base")}
        lines.append(
            f"pyramid: {len(info.level_bands) - 1} levels + residual; levels per band: "
            + ", ".join(f"{k} {v}" for k, v in counts.items())
        )
    parts = [f"{100 * c:.3f}% of values (by {255 * d:.1f} grey levels on average)"
             for c, d in zip(info.clipped, info.clipped_by, strict=True)]
    if len(parts) == 1:
        lines.append(f"clipped to [0, 1]: {parts[0]}")
    else:
        lines.append("clipped to [0, 1]: " + "; ".join(f"image {i} {p}" for i, p in enumerate(parts)))
    return "\n".join(lines)


@operation(
    "multiscale_detail",
    display_name="Multiscale Detail",
    category="enhance",
    description=(
        "Boosts or softens detail by size: fine, medium and coarse detail and the base lighting each get a gain. "
        "Band sizes scale with the image by default, so the same settings look alike at any resolution. Works on "
        "lightness only by default (colour kept); unit gains give back the input exactly."
    ),
    inputs=[
        IMAGE,
        Param("fine_gain", "float", 1.5, min=0.0, max=4.0, step=0.05,
              help="Gain of fine detail (structures smaller than the band size). 1 = unchanged, above 1 sharpens, "
              "below 1 softens, 0 removes it."),
        Param("medium_gain", "float", 1.25, min=0.0, max=4.0, step=0.05,
              help="Gain of medium detail (band size to band size x ratio)."),
        Param("coarse_gain", "float", 1.0, min=0.0, max=4.0, step=0.05,
              help="Gain of coarse detail (band size x ratio to band size x ratio^2): local contrast."),
        Param("base_gain", "float", 1.0, min=0.0, max=4.0, step=0.05,
              help="Gain of the base layer (the large-scale lighting, above the coarse band), about the image mean: "
              "below 1 flattens the lighting (HDR-like), above 1 deepens it. Mean brightness is kept."),
        choice_param("method", "laplacian", METHODS,
                     "How the image is split: laplacian = Laplacian pyramid (octave levels given to the band their "
                     "size falls in); fft = smooth masks on the spectrum at exactly the band sizes."),
        Param("band_size", "float", 0.5, min=0.01, max=4096.0, step=0.05,
              help="Upper size of the fine band (period of the pattern), in the units chosen below; medium and "
              "coarse bands are band_ratio and band_ratio^2 times larger. Never below 4 px."),
        choice_param("size_units", "percent", SIZE_UNITS,
                     "Units of band size: percent = % of the image's longer side (0.01-25; resolution independent, "
                     "0.5% is 4 px up to 800 px and 19 px on 4K); pixels = fixed size in pixels (4-4096)."),
        Param("band_ratio", "float", 4.0, min=2.0, max=8.0, step=0.5, advanced=True,
              help="Size ratio between consecutive bands (4 = two octaves per band)."),
        choice_param("color", "oklab", COLOR_MODES,
                     "Colour images: oklab = change Oklab lightness only (colour kept, perceptually even); luma = "
                     "the same change on R, G and B (BT.601 luma); rgb = every channel on its own. Gray images "
                     "ignore this."),
        Param("halo_limit", "float", 0.0, min=0.0, max=255.0, step=1.0, units="0-255 grey levels", scale=1 / 255,
              help="0 = off. Detail stronger than this is boosted less, so strong edges get no halos while fine "
              "texture still gets the full gain. Typical 15-50."),
    ],
    outputs=[
        image_output("The image with its detail bands scaled."),
        report_output("Gains and band sizes used (px and % of the image), pyramid levels per band, and how much of "
                      "the result was clipped to [0, 1]."),
    ],
)
def run_multiscale_detail(
    image: torch.Tensor,
    fine_gain: float,
    medium_gain: float,
    coarse_gain: float,
    base_gain: float,
    method: str,
    band_size: float,
    size_units: str,
    band_ratio: float,
    color: str,
    halo_limit: float,
    progress: ProgressCallback | None = None,
) -> dict[str, object]:
    out, info = multiscale_detail(
        image,
        fine_gain=fine_gain,
        medium_gain=medium_gain,
        coarse_gain=coarse_gain,
        base_gain=base_gain,
        method=method,
        band_size=band_size,
        size_units=size_units,
        band_ratio=band_ratio,
        color=color,
        halo_limit=halo_limit,
        return_info=True,
        progress=progress,
    )
    return {"image": out, "report": format_report(info, image, band_size, size_units)}
