"""BM3D Denoise (BM3D / CBM3D); the help texts and report lines BM3D Deblur shares."""

from __future__ import annotations

import time

import torch

from ...denoise.bm3d import bm3d_denoise
from ...denoise.bm3d.options import COLOR_SPACES, NODE_BACKENDS, PROFILES, STAGES, sigma_per_channel
from ...params import Output, operation
from ...progress import ProgressCallback
from ..common import IMAGE, choice_param, sigma_param

PROFILE_HELP = (
    "BM3D parameter set: np = normal (default), refilter = adds a refiltering pass (a little better, slower), "
    "vn = very noisy images, high = denser and slower, lc = low complexity (fastest), deb = the settings of the "
    "deblurring paper."
)
COLOR_HELP = (
    "Colour images (CBM3D): blocks are matched on the brightness channel of this colour space and every channel is "
    "filtered. opp = opponent colours (default), ycbcr = YCbCr. Ignored for gray images."
)
BACKEND_HELP = (
    "restorekit = our implementation (GPU or CPU, batched). reference = the `bm3d` package (CPU only, slow, "
    "non-commercial licence, optional: pip install bm3d), for comparison."
)


def sigma_lines(image: torch.Tensor, sigma: float | None, floor: float = 0.0) -> str:
    """Noise sigma per image in grey levels (per channel for colour) and how it was obtained."""
    how = "given" if sigma is not None else "estimated"
    used = sigma_per_channel(image.float(), sigma).clamp_min(floor) * 255.0
    parts = []
    for i, row in enumerate(used.tolist()):
        parts.append(f"image {i + 1}: " + "/".join(f"{v:.2f}" for v in row))
    return f"Noise sigma ({how}, grey levels{', per R/G/B' if image.shape[1] == 3 else ''}): " + "; ".join(parts) + "."


def device_text(image: torch.Tensor, backend: str) -> str:
    return "CPU (bm3d package)" if backend == "reference" else str(image.device)


@operation(
    "bm3d_denoise",
    display_name="BM3D Denoise",
    category="denoise",
    description=(
        "Removes noise with BM3D (block matching and 3-D collaborative filtering), CBM3D for colour: the classical "
        "reference denoiser. Sigma is estimated when left at 0. Runs batched on the GPU."
    ),
    inputs=[
        IMAGE,
        sigma_param(help="Noise standard deviation in grey levels. 0 = estimate it from each image."),
        choice_param("profile", "np", PROFILES, PROFILE_HELP, advanced=True),
        choice_param(
            "stage",
            "all",
            STAGES,
            "all = hard thresholding then Wiener filtering (best); hard = the first stage only (faster, a little worse).", advanced=True,
        ),
        choice_param("color_space", "opp", COLOR_SPACES, COLOR_HELP),
        choice_param("backend", "restorekit", NODE_BACKENDS, BACKEND_HELP, advanced=True),
    ],
    outputs=[
        Output("image", "image", "The denoised image."),
        Output("report", "string", "Sigma used, backend, profile and time."),
    ],
    gpu=True,
)
def run_bm3d_denoise(
    image: torch.Tensor,
    sigma: float | None,
    profile: str,
    stage: str,
    color_space: str,
    backend: str,
    progress: ProgressCallback | None = None,
) -> dict[str, object]:
    start = time.perf_counter()
    out = bm3d_denoise(
        image, sigma=sigma, profile=profile, stage=stage, color_space=color_space, backend=backend, progress=progress
    )
    if out.is_cuda:
        torch.cuda.synchronize(out.device)
    seconds = time.perf_counter() - start
    space = f", colour space {color_space}" if image.shape[1] == 3 else ""
    lines = [
        f"BM3D denoise: backend {backend} ({device_text(image, backend)}), profile {profile}, stage {stage}{space}, "
        f"{image.shape[0]} image(s) {image.shape[-1]}x{image.shape[-2]}, {seconds:.2f} s.",
        sigma_lines(image, sigma),
    ]
    return {"image": out.clamp(0, 1), "report": "\n".join(lines)}
