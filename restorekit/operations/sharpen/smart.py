"""Smart Sharpen (node RK_SmartSharpen): noise-gated, overshoot-limited sharpening with an automatic amount."""

from __future__ import annotations

import torch

from ...params import Param, operation
from ...progress import ProgressCallback
from ...sharpen.smart import smart_sharpen
from ..common import IMAGE, image_output, image_summary, report_output, sigma_param, text_table

_NOISE_FLOOR = 0.5 / 255  # below this the image is clean and a noise gain means nothing


def _report(x: torch.Tensor, info: dict[str, torch.Tensor], *, amount_given: bool, radius_given: bool,
            sigma_given: bool, noise_gate: float, halo_limit: float) -> str:
    values = {k: v.tolist() for k, v in info.items()}
    rows = []
    for i in range(x.shape[0]):
        gain = "-" if values["noise"][i] < _NOISE_FLOOR else f"{values['noise_gain'][i]:.2f}"
        rows.append([str(i), f"{values['blur'][i]:.2f}", f"{values['radius'][i]:.2f}", f"{values['amount'][i]:.2f}",
                     f"{values['noise'][i] * 255:.2f}", gain, f"{values['overshoot'][i] * 100:.1f}"])
    why = []
    why.append("radius given" if radius_given else "radius = measured edge blur, kept within 0.6-3 px")
    why.append("amount given" if amount_given else "amount = 1.5 x radius, kept within 1-4 (blurrier edges get more)")
    why.append(f"noise sigma {'given' if sigma_given else 'estimated'}; detail with a local std below "
               f"{noise_gate:g} noise sigmas is left alone" if noise_gate > 0 else "noise gate off")
    why.append(f"result clamped to each pixel's 5x5 range + {halo_limit * 100:g} % (no halos)")
    table = text_table(["image", "blur px", "radius px", "amount", "noise", "noise gain", "overshoot %"], rows)
    return "\n".join([f"Smart Sharpen: {image_summary(x)}; noise in 0-255 grey levels, noise gain = estimated noise "
                      "after / before ('-' on clean images), overshoot = beyond the local 5x5 range, % of it.",
                      table, *why])


@operation(
    "smart_sharpen",
    display_name="Smart Sharpen",
    category="sharpen",
    description=(
        "Sharpens edges and texture while leaving flat noise alone and without halos: measures how blurred the "
        "edges are to pick the radius and amount, gates the detail by the local contrast against the estimated "
        "noise, and clamps the result to the local range. Luminance only by default."
    ),
    inputs=[
        IMAGE,
        Param("amount", "float", 0.0, min=0.0, max=5.0, step=0.05, zero_is_auto=True,
              help="Strength: how many times the detail is added back. 0 = automatic from the measured edge blur "
              "(1-4)."),
        Param("radius", "float", 0.0, min=0.0, max=10.0, step=0.1, units="pixels (Gaussian sigma)", zero_is_auto=True,
              help="Size of the detail to sharpen, as a Gaussian sigma. 0 = automatic: the measured blur of the "
              "edges (0.6-3 px)."),
        sigma_param(help="Noise standard deviation of the image. 0 = estimate it. Sets the noise gate."),
        Param("halo_limit", "float", 1.0, min=0.0, max=100.0, step=0.5, units="% of the local contrast",
              scale=1 / 100,
              help="How far the result may go beyond the darkest and brightest pixel around it (5x5 window), as a "
              "percentage of their difference. Small values stop halos and overshoot; 100 hardly limits."),
        Param("luminance_only", "bool", True,
              help="Sharpen brightness only and keep the colour (recommended); off = every RGB channel."),
        Param("noise_gate", "float", 2.0, min=0.0, max=20.0, step=0.1, units="noise sigmas", advanced=True,
              help="Detail whose local standard deviation (5x5) is below this many noise sigmas is not sharpened; "
              "it is fully sharpened from twice that. 0 = sharpen noise too."),
    ],
    outputs=[
        image_output("The sharpened image."),
        report_output("Per image: measured blur, radius and amount used, noise sigma, noise gain, overshoot."),
    ],
)
def run_smart_sharpen(
    image: torch.Tensor,
    amount: float | None,
    radius: float | None,
    sigma: float | None,
    halo_limit: float,
    luminance_only: bool,
    noise_gate: float,
    progress: ProgressCallback | None = None,
) -> dict[str, object]:
    out, info = smart_sharpen(
        image, amount=amount, radius=radius, sigma=sigma, noise_gate=noise_gate, halo_limit=halo_limit,
        luminance_only=luminance_only, progress=progress, return_info=True,
    )
    report = _report(image, info, amount_given=amount is not None, radius_given=radius is not None,
                     sigma_given=sigma is not None, noise_gate=noise_gate, halo_limit=halo_limit)
    return {"image": out, "report": report}
