"""Difference: amplified signed residual and heat map between two images, with the scale in grey levels."""

from __future__ import annotations

import math

import torch

from ...params import Output, Param, operation
from ...progress import ProgressCallback
from ...quality.difference import CHANNEL_MODES, COLORMAPS, MAX_GAIN, DifferenceResult, difference
from ..common import choice_param, report_output, text_table


def _db(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.2f}"


def difference_report(r: DifferenceResult, *, gain_given: bool, channels: str, colormap: str) -> str:
    """Scale (what the full colour range means), mean/max |a - b| in grey levels and PSNR per image."""
    full = (r.full_scale * 255.0).tolist()
    rows = [
        [str(i), f"{f:.3g}", f"{g:.3g}", f"{m * 255:.3f}", f"{x * 255:.2f}", _db(p)]
        for i, (f, g, m, x, p) in enumerate(
            zip(full, r.gain.tolist(), r.mean_abs.tolist(), r.max_abs.tolist(), r.psnr.tolist(), strict=True)
        )
    ]
    how = "given" if gain_given else "automatic: the 99th percentile of |a - b| reaches full scale"
    scale = f"{full[0]:.3g} grey levels" if len(set(full)) == 1 else "its full scale (table, grey levels)"
    lines = [
        f"Difference a - b ({'per channel' if channels == 'per_channel' else 'luma'}), gain {how}.",
        f"Signed image: mid-grey = equal; white / black = a brighter / darker than b by {scale} or more.",
        f"Heat map ({colormap}): dark = equal, the top of the colour range = |a - b| of {scale} or more.",
        "Grey levels on the 0-255 scale; PSNR of a against b in dB.",
        text_table(["image", "full scale", "gain", "mean |a-b|", "max |a-b|", "PSNR"], rows),
    ]
    return "\n".join(lines)


@operation(
    "difference",
    display_name="Difference",
    category="quality",
    description=(
        "Shows where and how much two images differ: the amplified signed difference (mid-grey = equal) and a "
        "heat map of its size, both on one scale (automatic: the 99th percentile reaches full scale), with a "
        "report of the scale, mean and maximum difference in grey levels and the PSNR."
    ),
    inputs=[
        Param("image_a", "image", help="First image (a in a - b), e.g. the restored result."),
        Param("image_b", "image", help="Second image (b in a - b), e.g. the input or the reference; same size as a."),
        Param("gain", "float", 0.0, min=0.0, max=MAX_GAIN, step=0.5, zero_is_auto=True, units="times",
              help="Amplification: signed = 0.5 + gain x (a - b); full scale is a difference of 127.5 / gain grey "
              "levels. 0 = automatic per image (the 99th percentile of |a - b| reaches full scale)."),
        choice_param("channels", "per_channel", CHANNEL_MODES,
                     "per_channel: signed difference of each channel, heat map of the largest; luma: the difference of "
                     "brightness only (BT.601 luma), ignoring colour shifts."),
        choice_param("colormap", "fire", COLORMAPS,
                     "Heat map colours, all with lightness rising evenly from dark (equal) to bright (full scale): "
                     "fire (purple-red-yellow), aurora (blue-green-yellow), gray."),
        Param("scale_bar", "bool", True,
              help="Draw the colour ramp and its range in grey levels into the bottom rows of the heat map "
              "(images at least 16 px tall)."),
    ],
    outputs=[
        Output("signed", "image", "0.5 + gain x (a - b): mid-grey where equal, brighter where a is brighter."),
        Output("heat_map", "image", "|a - b| as colours from dark (equal) to bright (full scale or more)."),
        report_output("Scale (grey levels meant by the full colour range), gain, mean and max |a - b| in grey levels, "
                      "PSNR in dB, per image."),
    ],
    gpu=True,
)
def run_difference(
    image_a: torch.Tensor,
    image_b: torch.Tensor,
    gain: float | None,
    channels: str,
    colormap: str,
    scale_bar: bool,
    progress: ProgressCallback | None = None,
) -> dict[str, object]:
    r = difference(image_a, image_b, gain=gain, channels=channels, colormap_name=colormap, scale_bar=scale_bar,
                   progress=progress)
    text = difference_report(r, gain_given=gain is not None, channels=channels, colormap=colormap)
    return {"signed": r.signed, "heat_map": r.heat, "report": text}
