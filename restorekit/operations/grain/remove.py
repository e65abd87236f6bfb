"""Grain Remove (node RK_GrainRemove): grain-aware removal with a preservation level, and the grain layer."""

from __future__ import annotations

import torch

from ...color import rgb_to_ycbcr
from ...grain.analysis import analyze_grain
from ...grain.model import GrainModel
from ...grain.removal import GrainRemoval, remove_grain
from ...params import Output, Param, operation
from ...progress import ProgressCallback
from ..common import IMAGE, choice_param, image_output, image_summary, report_output, text_table

_METHOD_HELP = {
    "bm3d": "coloured-noise BM3D with the grain's spectrum on variance-stabilised luma",
    "wavelet": "wavelet shrinkage at the stabilised grain std",
    "nlm": "non-local means at the stabilised grain std",
    "model": "the connected restoration model, the grain's per-pixel std as noise map",
}


def _plane_std(t: torch.Tensor) -> list[str]:
    planes = t if t.shape[1] == 1 else rgb_to_ycbcr(t) - rgb_to_ycbcr(torch.zeros_like(t))
    return [f"{float(planes[:, i].std(correction=0)) * 255:.2f}" for i in range(planes.shape[1])]


def _residual(removed: torch.Tensor) -> list[float]:
    y = removed[:, :1] if removed.shape[1] == 1 else rgb_to_ycbcr(removed)[:, :1]
    models = analyze_grain(removed)
    return [float(m.scaling_luma(y[i]).square().mean().sqrt()) * 255 for i, m in enumerate(models)]


def _report(image: torch.Tensor, removed: torch.Tensor, layer: torch.Tensor, info: GrainRemoval, source: str) -> str:
    names = ["Y"] if image.shape[1] == 1 else ["Y", "Cb", "Cr"]
    residual = _residual(removed)
    rows = []
    for i in range(image.shape[0]):
        m = info.models[i]
        rows.append([str(i), f"{info.grain_std[i] * 255:.2f}", m.classification, f"{m.grain_size:.2f}",
                     *_plane_std(layer[i: i + 1]), f"{residual[i]:.2f}"])
    header = ["image", "grain std", "class", "size px", *(f"layer {n}" for n in names), "residual"]
    lines = [
        f"Grain Remove: {image_summary(image)}; grain model {source}; method {info.method} "
        f"({_METHOD_HELP[info.method]}); preservation {info.preservation:g} (share of the grain kept).",
        "Grain std over the image (model, 0-255 grey levels), removed layer std per plane, and residual grain "
        "measured blind on the output (0-255 grey levels; no PSNR without a clean reference):",
        text_table(header, rows),
    ]
    if any(info.chroma):
        lines.append("Chroma grain was filtered in Cb and Cr (at each plane's mean grain variance).")
    return "\n".join(lines)


@operation(
    "grain_remove",
    display_name="Grain Remove",
    category="grain",
    description=(
        "Removes film grain using its measured description: intensity versus brightness, grain size and spectrum "
        "(connect Grain Analyze, or the image is analysed here). BM3D with the grain's own spectrum, wavelet, "
        "non-local means, or a connected restoration model. A preservation level keeps part of the grain; the "
        "grain taken off comes out as a layer."
    ),
    inputs=[
        IMAGE,
        Param("grain", "grain", optional=True,
              help="Grain model from Grain Analyze (one for the whole batch). Not connected = every image is "
              "analysed on its own (blind: best on images with some flat areas)."),
        choice_param("method", "bm3d", ("bm3d", "wavelet", "nlm", "model"),
                     "bm3d = BM3D for correlated noise with the grain's spectrum (best); wavelet / nlm = faster "
                     "white-noise denoisers at the grain's std; model = the connected restoration model (noise "
                     "map = the grain's std per pixel)."),
        Param("preservation", "float", 0.0, min=0.0, max=1.0, step=0.05,
              help="Share of the grain kept: 0 removes it all, 0.3 keeps a natural trace, 1 returns the input."),
        Param("model", "model", optional=True,
              help="A model from Load Restoration Model, used when method is 'model'."),
    ],
    outputs=[
        image_output("The image with the grain removed (up to the preservation level)."),
        Output("grain_layer", "image",
               "The grain taken off, shown as 0.5 + layer (clamped to 0-1) for viewing (the CLI writes this view "
               "too); the exact signed layer (removed + layer = input) comes from the library function "
               "restorekit.grain.removal.remove_grain."),
        Output("grain", "grain", "The grain model used (the connected one, or the batch's pooled blind analysis)."),
        report_output("Grain std (0-255 grey levels), method, removed layer std per plane and the residual grain "
                      "measured on the output."),
    ],
)
def run_grain_remove(
    image: torch.Tensor,
    grain: GrainModel | None,
    method: str,
    preservation: float,
    model: object | None,
    progress: ProgressCallback | None = None,
) -> dict[str, object]:
    removed, layer, info = remove_grain(image, model=grain, method=method, preservation=preservation,
                                        restoration_model=model, progress=progress, return_info=True)
    if grain is not None:
        used, source = grain, "connected"
    elif image.shape[0] == 1:
        used, source = info.models[0], "analysed (blind)"
    else:
        used, source = analyze_grain(image, pool=True)[0], "analysed per image (blind); output = pooled batch"
    report = _report(image, removed, layer, info, source)
    return {"image": removed, "grain_layer": (0.5 + layer).clamp(0.0, 1.0), "grain": used, "report": report}
