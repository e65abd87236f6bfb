"""BM3D Deblur: known-PSF deconvolution with BM3D filtering (Dabov et al. 2008)."""

from __future__ import annotations

import time

import torch

from ...deblur.bm3d_deblur import EDGE_MODES, SIGMA_FLOOR, bm3d_deblur
from ...deblur.psf import PSF
from ...denoise.bm3d.options import COLOR_SPACES, NODE_BACKENDS, PROFILES
from ...params import Output, operation
from ...progress import ProgressCallback
from ..common import IMAGE, PSF_INPUT, choice_param, psf_text, sigma_param
from ..denoise.bm3d import BACKEND_HELP, COLOR_HELP, PROFILE_HELP, device_text, sigma_lines


@operation(
    "bm3d_deblur",
    display_name="BM3D Deblur",
    category="deblur",
    description=(
        "Removes a known blur (PSF from Make PSF) and the noise with BM3D deblurring (Dabov et al. 2008): a "
        "regularised inverse, BM3D filtering of its coloured noise, a regularised Wiener inverse and a BM3D Wiener "
        "stage. Better than Richardson–Lucy or Wiener on noisy images, slower."
    ),
    inputs=[
        IMAGE,
        PSF_INPUT,
        sigma_param(help="Noise standard deviation in grey levels. 0 = estimate it from each image."),
        choice_param("profile", "np", PROFILES, PROFILE_HELP, advanced=True),
        choice_param("color_space", "opp", COLOR_SPACES, COLOR_HELP, advanced=True),
        choice_param("backend", "restorekit", NODE_BACKENDS, BACKEND_HELP, advanced=True),
        choice_param(
            "edges",
            "extrapolate",
            EDGE_MODES,
            "Border handling: extrapolate = continue the scene beyond the frame from a first Richardson–Lucy estimate "
            "(best); replicate / reflect = pad the blurred image (faster, rings more); periodic = the image wraps "
            "around.",
            advanced=True,
        ),
    ],
    outputs=[
        Output("image", "image", "The deblurred image."),
        Output("report", "string", "Sigma used, backend, profile and time."),
    ],
    gpu=True,
)
def run_bm3d_deblur(
    image: torch.Tensor,
    psf: PSF,
    sigma: float | None,
    profile: str,
    color_space: str,
    backend: str,
    edges: str,
    progress: ProgressCallback | None = None,
) -> dict[str, object]:
    start = time.perf_counter()
    out = bm3d_deblur(
        image,
        psf,
        sigma=sigma,
        profile=profile,
        color_space=color_space,
        backend=backend,
        edges=edges,
        progress=progress,
    )
    if out.is_cuda:
        torch.cuda.synchronize(out.device)
    seconds = time.perf_counter() - start
    space = f", colour space {color_space}" if image.shape[1] == 3 else ""
    lines = [
        f"BM3D deblur: PSF {psf_text(psf)}, backend {backend} ({device_text(image, backend)}), "
        f"profile {profile}{space}, edges {edges}, {image.shape[0]} image(s) {image.shape[-1]}x{image.shape[-2]}, "
        f"{seconds:.2f} s.",
        sigma_lines(image, sigma, SIGMA_FLOOR),
    ]
    return {"image": out.clamp(0, 1), "report": "\n".join(lines)}
