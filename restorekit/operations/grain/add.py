"""Grain Add (node RK_GrainAdd): synthesise film grain from a grain model or from a few settings."""

from __future__ import annotations

import torch

from ...grain.model import GrainModel
from ...grain.synthesis import SYNTHESIS_CHOICES, add_grain, grain_model
from ...params import Output, Param, operation
from ...progress import ProgressCallback
from ..common import IMAGE, choice_param, image_output, image_summary, report_output, seed_param


def _report(model: GrainModel, method: str, colour: bool, source: str, x: torch.Tensor, out: torch.Tensor,
            seed: int, strength: float, rho: float) -> str:
    diff = (out - x).float()
    pts = model.scaling_luma.points
    mid = float(model.scaling_luma(torch.tensor([0.5]))[0]) * 255 if pts else 0.0
    lines = [
        f"Grain Add: {image_summary(x)}; model {source}; synthesis {method}; {'colour' if colour else 'monochrome'} grain.",
        f"grain std at mid-grey {mid * strength:.2f} grey levels (model {mid:.2f} x strength {strength:g}); "
        f"size {model.grain_size:.2f} px; AR lag {model.ar_lag}"
        + (f"; Boolean radius {model.grain_radius:.2f} px" if model.grain_radius > 0 else ""),
        f"seed {seed} (frame i uses frame_seed(seed, i)); frame correlation {rho:g}.",
        f"measured: added grain std {float(diff.std()) * 255:.2f} grey levels, mean shift "
        f"{float(diff.mean()) * 255:+.3f} grey levels, clipped pixels {float(((out <= 0) | (out >= 1)).float().mean()) * 100:.2f}%.",
    ]
    return "\n".join(lines)


@operation(
    "grain_add",
    display_name="Grain Add",
    category="grain",
    description=(
        "Adds film grain: luminance-dependent grain from a grain model (connect Grain Analyze or Grain Match) or "
        "from the intensity and size set here. Syntheses: AV1-style auto-regressive pattern, the physically based "
        "Boolean (Poisson disc) film-grain model, its fast filtered-noise approximation, or Gaussian-filtered noise. "
        "Every frame of a batch gets its own grain, reproducible from the seed."
    ),
    inputs=[
        IMAGE,
        Param("grain", "grain", optional=True,
              help="Grain model from Grain Analyze or Grain Match. When connected, intensity, size, synthesis "
              "(unless set below) and colour come from it."),
        Param("intensity", "float", 8.0, min=0.0, max=64.0, step=0.5, units="0-255 grey levels", scale=1 / 255,
              help="Grain standard deviation at mid-grey (less in the shadows and highlights). Ignored when a grain "
              "model is connected."),
        Param("size", "float", 1.0, min=0.0, max=8.0, step=0.1, units="pixels",
              help="Grain size: correlation length (std of the Gaussian that would blur white noise into this "
              "grain). 0 = white noise. Ignored when a grain model is connected."),
        choice_param("synthesis", "model", ("model", *SYNTHESIS_CHOICES),
                     "How grain is made: model = the connected model's own (ar without one); ar = AV1 auto-regressive "
                     "pattern; boolean = physically based disc grain (slower); boolean_fast = its filtered-noise "
                     "approximation; gaussian = Gaussian-filtered noise."),
        Param("color", "bool", False,
              help="Colour grain (independent grain in the chroma planes) for RGB images; off = monochrome grain. "
              "With a connected model, on uses the model's chroma grain (or adds some when it has none)."),
        seed_param(),
        Param("strength", "float", 1.0, min=0.0, max=4.0, step=0.05,
              help="Multiplier on the grain amplitude: 1 = as set / as measured."),
        Param("frame_correlation", "float", 0.0, min=0.0, max=0.95, step=0.05, advanced=True,
              help="Correlation of consecutive frames' grain in a batch (0 = a new pattern every frame, as film)."),
        Param("channel_correlation", "float", 0.7, min=0.0, max=1.0, step=0.05, advanced=True,
              help="Colour grain without a model: correlation between the R, G and B grain (1 = monochrome)."),
    ],
    outputs=[
        image_output("The image with grain added."),
        Output("grain", "grain", "The grain model used (connect it to another Grain Add, or save it as an AV1 "
               "film-grain table with the CLI)."),
        report_output("Synthesis, grain std at mid-grey and size, seed, and the measured added grain."),
    ],
)
def run_grain_add(
    image: torch.Tensor,
    grain: GrainModel | None,
    intensity: float,
    size: float,
    synthesis: str,
    color: bool,
    seed: int,
    strength: float,
    frame_correlation: float,
    channel_correlation: float,
    progress: ProgressCallback | None = None,
) -> dict[str, object]:
    method = None if synthesis == "model" else synthesis
    if grain is None:
        model = grain_model(intensity, size, method or "ar", color=color, channel_correlation=channel_correlation)
        source = "from the settings"
        colour = color
    else:
        model = grain
        source = "connected"
        colour = color or model.has_chroma
    used = method or model.synthesis
    out = add_grain(image, model, seed=seed, strength=strength, synthesis=used, frame_correlation=frame_correlation,
                    color=colour if image.shape[1] == 3 else False, progress=progress)
    if used != model.synthesis and used in ("ar", "boolean", "gaussian"):
        model = model.replace(synthesis=used)
    report = _report(model, used, colour and image.shape[1] == 3, source, image, out, seed, strength,
                     frame_correlation)
    return {"image": out, "grain": model, "report": report}
