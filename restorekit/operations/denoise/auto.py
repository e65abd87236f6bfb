"""Auto-Denoise: analyse the noise, pick a denoiser, say why."""

from __future__ import annotations

import torch

from ...denoise.auto import METHODS as AUTO_METHODS
from ...denoise.auto import PREFER, auto_denoise, format_report
from ...params import Output, Param, operation
from ...progress import ProgressCallback
from ..common import IMAGE, seed_param


@operation(
    "auto_denoise",
    display_name="Auto-Denoise",
    category="denoise",
    description=(
        "Measures the noise of each image (level, signal dependence, grain/correlation, JPEG blocking), picks a "
        "denoiser for it (wavelet, non-local means, BM3D, the built-in network, Noise2Void or Deep Image Prior where "
        "installed) and "
        "reports what it chose and why."
    ),
    inputs=[
        IMAGE,
        Param("prefer", "choice", "balanced", choices=PREFER,
              help="quality: strongest method (may train Noise2Void on signal-dependent noise); balanced: the built-in "
              "network, BM3D or non-local means; fast: wavelet shrinkage where it is good enough (the built-in "
              "network on a GPU)."),
        Param("method", "choice", "auto", choices=AUTO_METHODS,
              help="auto = decide from the noise analysis; any other value forces that denoiser for every image."),
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
    out, choices = auto_denoise(image, method=method, prefer=prefer, seed=seed, progress=progress, return_info=True)
    return {"image": out, "report": format_report(choices)}
