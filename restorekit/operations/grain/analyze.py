"""Grain Analyze (node RK_GrainAnalyze): measure an image's grain as a grain model, a report and a visual.

The GRAIN socket carries one model, so the ``grain`` output is one model for the batch: by default the
model measured from the statistics of all its images pooled (``model_from = batch``), or that of the
first image; the report and the visual give every image's own measures.
"""

from __future__ import annotations

import torch

from ...grain.analysis import GrainAnalysis, analyze_grain
from ...grain.model import GrainModel
from ...grain.synthesis import causal_offsets
from ...grain.visual import grain_visual
from ...params import Output, Param, operation
from ...progress import ProgressCallback
from ..common import IMAGE, choice_param, image_summary, report_output, text_table

#: Luma levels of the report's dark / mid / bright grain std.
LEVELS = (0.15, 0.5, 0.85)


def _std_at(model: GrainModel, plane: str, t: float) -> float:
    f = {"y": model.scaling_luma, "cb": model.scaling_cb, "cr": model.scaling_cr}[plane]
    return float(f(torch.tensor([t], dtype=torch.float64))[0]) * 255.0


def _largest_ar(model: GrainModel, count: int = 3) -> str:
    if not model.ar_luma:
        return "none (white)"
    pairs = sorted(zip(causal_offsets(model.ar_lag), model.ar_luma, strict=True), key=lambda p: -abs(p[1]))[:count]
    return ", ".join(f"({dy},{dx}) {a:+.3f}" for (dy, dx), a in pairs)


def _report(x: torch.Tensor, models: list[GrainModel], infos: list[GrainAnalysis], out: GrainModel, blind: bool,
            model_from: str, ar_lag: int) -> str:
    colour = x.shape[1] == 3
    rows = []
    for i, (m, a) in enumerate(zip(models, infos, strict=True)):
        dark, mid, bright = (_std_at(m, "y", t) for t in LEVELS)
        grain = m.classification not in ("clean", "unknown")
        if colour and grain and m.has_chroma:
            chroma = f"{_std_at(m, 'cb', 0.5):.2f}/{_std_at(m, 'cr', 0.5):.2f}"
        else:
            chroma = "-" if not colour else "none"
        rows.append([
            str(i), m.classification, f"{a.confidence * 100:.0f}%", f"{dark:.2f}", f"{mid:.2f}", f"{bright:.2f}",
            f"{m.grain_size:.2f}" if grain else "-",
            f"{m.channel_correlation:.2f}" if grain and colour else "-",
            chroma, f"{a.flat_fraction * 100:.0f}%",
        ])
    header = ["image", "class", "conf", "std dark", "std mid", "std bright", "size px", "chan corr", "Cb/Cr mid",
              "measured"]
    lines = [
        f"Grain Analyze: {image_summary(x)}; {'blind (no reference)' if blind else 'with reference (grain = image - reference)'}; "
        f"AR lag {ar_lag}.",
        f"grain std in 0-255 grey levels at luma {LEVELS[0]:g} / {LEVELS[1]:g} / {LEVELS[2]:g}; size = correlation length "
        "(std of the Gaussian that would blur white noise into this grain); measured = share of pixels used.",
        text_table(header, rows),
    ]
    for i, (m, a) in enumerate(zip(models, infos, strict=True)):
        if m.classification in ("clean", "unknown"):
            residual = a.plane_std[0] * 255.0 if a.plane_std else 0.0
            lines.append(f"image {i}: {m.notes or 'no grain'} (residual std {residual:.2f} grey levels).")
        else:
            lines.append(f"image {i}: largest AR coefficients (dy,dx): {_largest_ar(m)}.")
    source = "the pooled statistics of all images" if model_from == "batch" and x.shape[0] > 1 else "image 0"
    lines.append(f"grain output: the model of {source}: {out.classification}, std mid "
                 f"{_std_at(out, 'y', 0.5):.2f} grey levels, size {out.grain_size:.2f} px.")
    return "\n".join(lines)


@operation(
    "grain_analyze",
    display_name="Grain Analyze",
    category="grain",
    description=(
        "Measures film grain: grain strength against brightness (scaling curve), grain size, colour correlation, "
        "an AV1-style auto-regressive pattern and the radial spectrum, and tells film grain, digital (sensor) noise, "
        "a synthetic grain overlay and a clean image apart. With a clean reference the grain is image - reference; "
        "without one it is measured blind in the flat parts of the image. The grain model feeds Grain Add and can "
        "be saved as an AV1 film-grain table with the CLI."
    ),
    inputs=[
        IMAGE,
        Param("reference", "image", optional=True,
              help="Optional clean version of the same image(s) (one, or one per image): the grain is then exactly "
              "image - reference. Not connected = blind analysis."),
        choice_param("model_from", "batch", ("batch", "first"),
                     "Which model the grain output carries (it holds one): batch = measured from all images' "
                     "statistics pooled; first = the first image's. The report lists every image."),
        Param("ar_lag", "int", 3, min=0, max=3, advanced=True,
              help="Lag of the auto-regressive grain pattern (AV1: 0-3; 2 lag (lag + 1) coefficients). 0 = white.",
              units="pixels"),
        Param("bins", "int", 32, min=4, max=256, advanced=True,
              help="Number of radial frequency bins of the measured spectrum (0 to 0.5 cycles/px)."),
        Param("smooth", "float", 0.0, min=0.0, max=256.0, step=1.0, advanced=True, zero_is_auto=True, units="pixels",
              help="Blind analysis: std of the smoothing that separates grain from image content (at least 1). "
              "0 = automatic (16 px, less on small images)."),
    ],
    outputs=[
        Output("grain", "grain", "The measured grain model (connect it to Grain Add; the CLI writes it as .json and, "
               "where AV1 can express it, an AV1 film-grain table .tbl)."),
        Output("visual", "image", "Per image: grain std vs luma (measured bins as dots) and the radial spectrum.", alpha=False),
        report_output("Per image: class and confidence, grain std in dark/mid/bright tones, grain size, channel "
                      "correlation, chroma grain, largest AR coefficients; blind or with reference."),
    ],
)
def run_grain_analyze(
    image: torch.Tensor,
    reference: torch.Tensor | None,
    model_from: str,
    ar_lag: int,
    bins: int,
    smooth: float | None,
    progress: ProgressCallback | None = None,
) -> dict[str, object]:
    models, infos = analyze_grain(image, reference=reference, bins=bins, ar_lag=ar_lag, smooth=smooth,
                                  return_info=True, progress=progress)
    if model_from == "batch" and image.shape[0] > 1:
        out = analyze_grain(image, reference=reference, bins=bins, ar_lag=ar_lag, smooth=smooth, pool=True)[0]
    else:
        out = models[0]
    visual = grain_visual(models, infos).to(image.device)
    report = _report(image, models, infos, out, reference is None, model_from, ar_lag)
    return {"grain": out, "visual": visual, "report": report}
