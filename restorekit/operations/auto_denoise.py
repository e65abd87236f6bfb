"""Auto-Denoise, Auto-tune Denoiser and Analyze Noise: denoising without knowing the noise."""

from __future__ import annotations

import torch

from ..denoise.auto import METHODS as AUTO_METHODS
from ..denoise.auto import PREFER, auto_denoise, format_report
from ..denoise.autotune import CRITERIA, DENSITIES, autotune_denoiser
from ..denoise.autotune import METHODS as TUNE_METHODS
from ..params import IMAGE, Output, Param, operation, seed_param
from ..progress import ProgressCallback
from ..quality.noise_analysis import analyse_noise


@operation(
    "auto_denoise",
    display_name="Auto-Denoise",
    category="denoise",
    description=(
        "Measures the noise of each image (level, signal dependence, grain/correlation, JPEG blocking), picks a "
        "denoiser for it (wavelet, non-local means, BM3D, Noise2Void or Deep Image Prior where installed) and "
        "reports what it chose and why."
    ),
    inputs=[
        IMAGE,
        Param(
            "prefer",
            "choice",
            "balanced",
            choices=PREFER,
            help=(
                "quality: strongest method (may train Noise2Void on signal-dependent noise); balanced: BM3D or "
                "non-local means; fast: wavelet shrinkage where it is good enough."
            ),
        ),
        Param(
            "method",
            "choice",
            "auto",
            choices=AUTO_METHODS,
            help="auto = decide from the noise analysis; any other value forces that denoiser for every image.",
        ),
        seed_param(),
    ],
    outputs=[
        Output("image", "image", "The denoised image."),
        Output("report", "string", "Per image: the noise found, the method chosen, its settings and the reason."),
    ],
    gpu=True,
)
def run_auto_denoise(
    image: torch.Tensor, prefer: str, method: str, seed: int, progress: ProgressCallback | None = None
) -> dict[str, object]:
    out, choices = auto_denoise(image, method=method, prefer=prefer, seed=seed, progress=progress)
    return {"image": out, "report": format_report(choices)}


@operation(
    "autotune_denoiser",
    display_name="Auto-tune Denoiser",
    category="denoise",
    description=(
        "Chooses a classical denoiser's strength per image without a clean reference, by the Noise2Self "
        "self-supervised (J-invariant) loss or, for white Gaussian noise, Stein's unbiased risk estimate, and "
        "returns the result with the chosen parameters."
    ),
    inputs=[
        IMAGE,
        Param(
            "method",
            "choice",
            "wavelet",
            choices=TUNE_METHODS,
            help=(
                "Denoiser to tune: wavelet (sigma scale and threshold rule), nlm (strength h) or bm3d (sigma scale; "
                "only where BM3D is installed)."
            ),
        ),
        Param(
            "density",
            "choice",
            "normal",
            choices=DENSITIES,
            help="Search grid: coarse (5 strengths), normal (5 + 2 refined), fine (7 + 4 refined). Each point costs "
            "2 (SURE) or 4 (Noise2Self) denoiser passes.",
        ),
        Param(
            "criterion",
            "choice",
            "auto",
            choices=CRITERIA,
            help=(
                "How settings are scored without a clean image: sure = Stein's unbiased risk estimate (white "
                "Gaussian noise); noise2self = J-invariant masked loss (any pixel-independent noise); auto = SURE "
                "when the noise analyses as white Gaussian, else Noise2Self."
            ),
            advanced=True,
        ),
    ],
    outputs=[
        Output("image", "image", "The image denoised with the chosen parameters."),
        Output("parameters", "string", "The chosen parameters (sigma in 0-255 grey levels), per image if they differ."),
        Output("report", "string", "The loss of every candidate per image and the chosen one."),
    ],
    gpu=True,
)
def run_autotune_denoiser(
    image: torch.Tensor, method: str, density: str, criterion: str, progress: ProgressCallback | None = None
) -> dict[str, object]:
    result = autotune_denoiser(image, method=method, density=density, criterion=criterion, progress=progress)
    return {"image": result.image, "parameters": result.parameters_text(), "report": result.report()}


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
