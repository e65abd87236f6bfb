"""Grain Match (node RK_GrainMatch): re-create a reference image's grain on other images."""

from __future__ import annotations

import torch

from ...color import rgb_to_ycbcr
from ...grain.analysis import analyze_grain
from ...grain.match import match_grain
from ...grain.model import GrainModel
from ...grain.synthesis import SYNTHESIS_CHOICES
from ...params import Output, Param, operation
from ...progress import ProgressCallback, scaled
from ...progress import report as report_progress
from ..common import choice_param, image_output, image_summary, report_output, seed_param, text_table


def _std(model: GrainModel, x: torch.Tensor) -> float:
    """The model's grain std over the luma of ``x`` ``[1, C, H, W]``, 0-255 grey levels."""
    y = x[:, :1] if x.shape[1] == 1 else rgb_to_ycbcr(x)[:, :1]
    return float(model.scaling_luma(y).square().mean().sqrt()) * 255


def _report(image: torch.Tensor, reference: torch.Tensor, out: torch.Tensor, ref_models: list[GrainModel],
            synthesis: list[str], remove_existing: bool, strength: float, seed: int,
            progress: ProgressCallback | None = None) -> str:
    before = analyze_grain(image)
    report_progress(progress, 90, 100)
    after = analyze_grain(out)
    report_progress(progress, 100, 100)
    lines = [f"Grain Match: {image_summary(image)}; reference {image_summary(reference)}; strength {strength:g}; "
             f"seed {seed}; target's own grain {'removed first' if remove_existing else 'kept'}."]
    ref_rows = [[str(i), f"{_std(m, reference[i: i + 1]):.2f}", f"{m.grain_size:.2f}", m.classification,
                 "yes" if m.has_chroma else "no"] for i, m in enumerate(ref_models)]
    lines += ["Reference grain (blind analysis; std in 0-255 grey levels over the reference):",
              text_table(["ref", "std", "size px", "class", "chroma"], ref_rows)]
    rows = []
    for i in range(image.shape[0]):
        m = ref_models[0 if len(ref_models) == 1 else i]
        rows.append([str(i), synthesis[i], f"{_std(m, out[i: i + 1]) * strength:.2f}",
                     f"{_std(before[i], image[i: i + 1]):.2f}", f"{_std(after[i], out[i: i + 1]):.2f}",
                     f"{after[i].grain_size:.2f}"])
    lines += ["Target grain std before and after, and the grain size after (blind re-analysis; 0-255 grey levels):",
              text_table(["image", "synthesis", "expected", "before", "after", "size after"], rows)]
    return "\n".join(lines)


@operation(
    "grain_match",
    display_name="Grain Match",
    category="grain",
    description=(
        "Gives images the grain of a reference: the reference's grain is measured (intensity versus brightness, "
        "size, spectrum, colour) and synthesised onto each image, optionally after removing the image's own grain."
    ),
    inputs=[
        Param("image", "image", help="The image or batch to give the reference's grain to."),
        Param("reference", "image",
              help="The image whose grain is copied: one image for the whole batch, or one per image. Works best "
              "when it has some flat areas (sky, walls)."),
        Param("remove_existing", "bool", False,
              help="Remove the image's own grain first (blind analysis and BM3D), so only the reference's grain "
              "remains."),
        Param("strength", "float", 1.0, min=0.0, max=2.0, step=0.05,
              help="Multiplier on the reference's grain amplitude: 1 = as measured."),
        seed_param(),
        choice_param("synthesis", "auto", ("auto", *SYNTHESIS_CHOICES),
                     "How the grain is made: auto = the measured model's (AR pattern); ar = AV1 auto-regressive "
                     "pattern; gaussian = Gaussian-filtered noise of the measured size; boolean = physically based "
                     "disc grain (slower); boolean_fast = its filtered-noise approximation."),
    ],
    outputs=[
        image_output("The image with the reference's grain."),
        Output("grain", "grain", "The reference's grain model as applied (of the first reference image)."),
        report_output("Reference grain std / size / class, and the image's grain before and after, measured."),
    ],
)
def run_grain_match(
    image: torch.Tensor,
    reference: torch.Tensor,
    remove_existing: bool,
    strength: float,
    seed: int,
    synthesis: str,
    progress: ProgressCallback | None = None,
) -> dict[str, object]:
    out, used, info = match_grain(image, reference, remove_existing=remove_existing, strength=strength, seed=seed,
                                  synthesis=None if synthesis == "auto" else synthesis,
                                  progress=scaled(progress, 0, 80, 100), return_info=True)
    # the report's blind re-analysis of the target before and after takes the last 20 steps of the bar
    report = _report(image, reference, out, info.reference_models, info.synthesis, remove_existing, strength, seed,
                     progress)
    return {"image": out, "grain": used[0], "report": report}
