"""Estimate Blur (node RK_EstimateBlur): blind Gaussian / motion PSF estimation from the power spectrum."""

from __future__ import annotations

import statistics

import torch

from ...deblur.estimate import MODELS, BlurEstimate, estimate_blur
from ...deblur.psf import PSF, gaussian_psf, motion_psf, psf_preview
from ...params import Output, Param, operation
from ...progress import ProgressCallback
from ..common import IMAGE, choice_param, report_output, text_table

#: Parameters agree across the batch when each is within this fraction of the median.
_AGREE = 0.15


def _agree(values: list[float]) -> bool:
    med = statistics.median(values)
    return all(abs(v - med) <= _AGREE * max(abs(med), 1e-6) for v in values)


def _angle_agree(angles: list[float]) -> bool:
    a0 = angles[0]
    return all(abs((a - a0 + 90.0) % 180.0 - 90.0) <= 5.0 for a in angles)


def _batch_psf(est: list[BlurEstimate]) -> tuple[PSF, str]:
    """One PSF for the batch and a sentence saying how it was chosen."""
    kinds = {e.kind for e in est}
    if len(est) > 1 and len(kinds) == 1 and "none" not in kinds:
        if kinds == {"gaussian"} and _agree([e.sigma for e in est]):
            s = statistics.median(e.sigma for e in est)
            return gaussian_psf(s), f"batch PSF: median of the {len(est)} estimates (they agree), gaussian sigma {s:.2f} px"
        if kinds == {"motion"} and _agree([e.length for e in est]) and _angle_agree([e.angle for e in est]):
            ln = statistics.median(e.length for e in est)
            a0 = est[0].angle
            an = (a0 + statistics.median(((e.angle - a0 + 90.0) % 180.0 - 90.0) for e in est)) % 180.0
            return (motion_psf(ln, an), f"batch PSF: median of the {len(est)} estimates (they agree), motion length "
                    f"{ln:.1f} px angle {an:.1f} deg")
    best = max(range(len(est)), key=lambda i: est[i].confidence)
    how = "the only estimate" if len(est) == 1 else f"the most confident estimate (image {best}; estimates differ)"
    return est[best].psf, f"batch PSF: {how}, {est[best].describe()}"


def _report(est: list[BlurEstimate], how: str) -> str:
    rows = []
    for i, e in enumerate(est):
        par = (f"L {e.length:.1f} px @ {e.angle:.1f} deg" if e.kind == "motion"
               else f"sigma {e.sigma:.2f} px" if e.kind == "gaussian" else "-")
        rows.append([str(i), e.kind, par, f"{e.confidence:.2f}", f"{e.noise_sigma * 255:.2f}",
                     f"{e.motion_correlation:.2f}", f"{e.gaussian_sigma:.2f}"])
    table = text_table(["image", "kind", "parameters", "confidence", "noise (0-255)", "motion corr", "gauss sigma"],
                       rows)
    why = "\n".join(f"image {i}: {e.why}" for i, e in enumerate(est))
    return f"Estimate Blur (log power spectrum of luma, Hann-windowed tiles)\n{table}\n{why}\n{how}"


@operation(
    "estimate_blur",
    display_name="Estimate Blur",
    category="deblur",
    description=(
        "Estimates the blur of each image without a reference: a linear motion (length and angle, from the "
        "direction and spacing of the zero lines of the spectrum) or a Gaussian (from how fast the spectrum falls), "
        "or none for a sharp image. Outputs one kernel for the deblur nodes, its preview and a report."
    ),
    inputs=[
        IMAGE,
        choice_param("model", "auto", MODELS,
                     help="Which blur to look for: auto (motion, Gaussian or none, from the evidence), gaussian "
                     "(soft, defocus-like) or motion (camera shake along a line)."),
        Param("max_length", "float", 32.0, min=3.0, max=100.0, step=1.0, units="pixels", advanced=True,
              help="Longest motion streak searched. Larger values need larger images (at most a third of the "
              "analysis tile, 256 px or 512 px above 32)."),
    ],
    outputs=[
        Output("psf", "psf", "The estimated kernel (one for the batch; see the report for how it was chosen)."),
        Output("preview", "image", "The batch kernel as a gray image (once per input image), brightest tap white, enlarged.",
               alpha=False),
        report_output("Per image: kind, parameters, confidence, noise level and why; how the batch PSF was chosen."),
    ],
    gpu=True,
)
def run_estimate_blur(
    image: torch.Tensor, model: str, max_length: float, progress: ProgressCallback | None = None
) -> dict[str, object]:
    est = estimate_blur(image, model=model, max_length=max_length, progress=progress)
    psf, how = _batch_psf(est)
    preview = psf_preview(psf).to(image.device).expand(image.shape[0], -1, -1, -1).contiguous()
    return {"psf": psf, "preview": preview, "report": _report(est, how)}
