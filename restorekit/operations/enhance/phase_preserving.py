"""Phase-Preserving Enhance (node RK_PhasePreservingEnhance): amplitude-spectrum shaping, phases kept."""

from __future__ import annotations

import torch

from ...enhance.phase_preserving import BORDERS, METHODS, phase_preserving_enhance
from ...params import Param, operation
from ...progress import ProgressCallback
from ..common import IMAGE, blend_param, choice_param, image_output, image_summary, report_output, text_table


@operation(
    "phase_preserving_enhance",
    display_name="Phase-Preserving Enhance",
    category="enhance",
    description=(
        "Boosts detail by reshaping the Fourier amplitude spectrum while keeping every phase, so edges stay "
        "where they are and mean brightness is unchanged. Flattens the natural fall-off of the spectrum above a "
        "band start; colour images are enhanced on luminance."
    ),
    inputs=[
        IMAGE,
        Param("flatten", "float", 0.2, min=0.0, max=1.0, step=0.05,
              help="How far the amplitude spectrum is flattened above the band start: 0 = keep its slope, "
              "1 = whiten it (very strong). 0.1-0.3 typical."),
        Param("detail_gain", "float", 1.0, min=0.0, max=10.0, step=0.05,
              help="Extra gain on the whole band: 1 = none, above 1 boosts, below 1 softens."),
        Param("low_cutoff", "float", 8.0, min=0.1, max=1000.0, step=0.5, units="cycles per image (longer side)",
              help="Start of the band: structures coarser than about 1/low_cutoff of the image keep their contrast. "
              "Relative to the image size.", advanced=True),
        Param("max_gain", "float", 3.0, min=1.0, max=100.0, step=0.1,
              help="Largest gain any frequency gets (and smallest 1/max_gain): keeps noise from being blown up.", advanced=True),
        blend_param(),
        Param("high_cutoff", "float", 0.0, min=0.0, max=10000.0, step=1.0, units="cycles per image (longer side)",
              advanced=True, help="End of the band (gains fade out above it). 0 = no upper limit."),
        choice_param("method", "equalize", METHODS, advanced=True,
                     help="equalize = one smooth gain per frequency ring from the measured spectrum envelope; "
                     "alpha_root = per coefficient, |X| raised to 1 - flatten (stronger, raises noise more)."),
        Param("luminance_only", "bool", True, advanced=True,
              help="Enhance luminance only and keep the colour (recommended); off = every RGB channel."),
        choice_param("border", "mirror", BORDERS, advanced=True,
                     help="mirror = filter a mirror-padded image (no seams at the borders); periodic = the image's "
                     "own spectrum (phases exactly kept, may show seams)."),
    ],
    outputs=[
        image_output("The enhanced image."),
        report_output("Band, mean and largest gain applied, and the mean-brightness drift (0-255 grey levels)."),
    ],
)
def run_phase_preserving_enhance(
    image: torch.Tensor,
    flatten: float,
    detail_gain: float,
    low_cutoff: float,
    max_gain: float,
    strength: float,
    high_cutoff: float,
    method: str,
    luminance_only: bool,
    border: str,
    progress: ProgressCallback | None = None,
) -> dict[str, object]:
    out, info = phase_preserving_enhance(
        image, flatten=flatten, detail_gain=detail_gain, low_cutoff=low_cutoff, high_cutoff=high_cutoff,
        max_gain=max_gain, method=method, luminance_only=luminance_only, border=border, strength=strength,
        return_info=True, progress=progress,
    )
    colour = "gray" if image.shape[1] == 1 else ("luminance" if luminance_only else "per channel")
    lo, hi = info.band_cycles_per_image
    band = f"{lo:g}-{hi:g}" if hi != float("inf") else f"above {lo:g}"
    head = (
        f"Phase-preserving enhance ({method}), {image_summary(image)}, {colour}: flatten {flatten:g}, "
        f"detail gain {detail_gain:g}, band {band} cycles/image, gain limit {max_gain:g}, border {border}, "
        f"strength {strength:g}. Phases unchanged."
    )
    rows = [[str(i), f"{m:.3f}", f"{g:.3f}", f"{d:.4f}"]
            for i, (m, g, d) in enumerate(zip(info.mean_gain, info.max_gain, info.drift, strict=True))]
    table = text_table(["image", "mean gain in band", "max gain", "drift (grey levels)"], rows)
    return {"image": out, "report": f"{head}\n{table}"}
