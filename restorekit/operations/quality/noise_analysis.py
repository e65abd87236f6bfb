"""Analyze Noise: level, signal dependence, correlation and JPEG blocking of each image."""

from __future__ import annotations

import torch

from ...params import Output, operation
from ...quality.noise_analysis import analyse_noise
from ..common import IMAGE


@operation(
    "analyze_noise",
    display_name="Analyze Noise",
    category="quality",
    description=(
        "Characterises the noise of each image: level, whether it depends on brightness (Poisson-Gaussian), "
        "whether it is spatially correlated (grain) and whether JPEG blocking is present, with a verdict."
    ),
    inputs=[IMAGE],
    outputs=[
        Output(
            "sigma",
            "float",
            "Noise std in 0-255 grey levels, batch mean: the white-noise estimate, or for correlated noise the "
            "flat-area total std.",
        ),
        Output("noise_type", "string", "Main finding of the first image: clean, gaussian, poisson_gaussian, correlated or jpeg."),
        Output("report", "string", "Every measure per image, with units, and the verdict."),
    ],
    gpu=True,
)
def run_analyze_noise(image: torch.Tensor) -> dict[str, object]:
    results = analyse_noise(image)
    sig = [(r.sigma_total if r.correlated else r.sigma) * 255.0 for r in results]
    parts = []
    for i, r in enumerate(results):
        head = f"image {i + 1}:" if len(results) > 1 else "Noise analysis:"
        parts.append(head + "\n" + "\n".join("  " + line for line in r.summary.splitlines()))
    return {"sigma": float(sum(sig) / len(sig)), "noise_type": results[0].kind, "report": "\n\n".join(parts)}
