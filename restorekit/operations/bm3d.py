"""BM3D operations: BM3D Denoise and BM3D Deblur."""

from __future__ import annotations

import time

import torch

from ..deblur.bm3d_deblur import BACKENDS, EDGE_MODES, SIGMA_FLOOR, bm3d_deblur
from ..deblur.psf import PSF
from ..denoise.bm3d_reference import COLOR_SPACES, PROFILES, STAGES, sigma_per_channel
from ..params import IMAGE, Output, Param, operation, sigma_param
from ..progress import ProgressCallback

_PROFILE_HELP = (
    "BM3D parameter set: np = normal (default), refilter = adds a refiltering pass (a little better, slower), "
    "vn = very noisy images, high = denser and slower, lc = low complexity (fastest), deb = the settings of the "
    "deblurring paper."
)
_COLOR_HELP = (
    "Colour images (CBM3D): blocks are matched on the brightness channel of this colour space and every channel is "
    "filtered. opp = opponent colours (default), ycbcr = YCbCr. Ignored for gray images."
)
_BACKEND_HELP = (
    "restorekit = our implementation (GPU or CPU, batched). reference = the `bm3d` package (CPU only, slow, "
    "non-commercial licence, optional: pip install bm3d), for comparison."
)


def _choice(name: str, default: str, choices: tuple[str, ...], help: str, advanced: bool = False) -> Param:
    return Param(name, "choice", default, choices=choices, help=help, advanced=advanced)


def _sigma_lines(image: torch.Tensor, sigma: float | None, floor: float = 0.0) -> str:
    """Noise sigma per image in grey levels (per channel for colour) and how it was obtained."""
    how = "given" if sigma is not None else "estimated"
    used = sigma_per_channel(image.float(), sigma).clamp_min(floor) * 255.0
    parts = []
    for i, row in enumerate(used.tolist()):
        parts.append(f"image {i + 1}: " + "/".join(f"{v:.2f}" for v in row))
    return f"Noise sigma ({how}, grey levels{', per R/G/B' if image.shape[1] == 3 else ''}): " + "; ".join(parts) + "."


def _device_text(image: torch.Tensor, backend: str) -> str:
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
        _choice("profile", "np", PROFILES, _PROFILE_HELP),
        _choice(
            "stage",
            "all",
            STAGES,
            "all = hard thresholding then Wiener filtering (best); hard = the first stage only (faster, a little worse).",
        ),
        _choice("color_space", "opp", COLOR_SPACES, _COLOR_HELP),
        _choice("backend", "restorekit", BACKENDS, _BACKEND_HELP, advanced=True),
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
    if backend == "reference":
        from ..denoise.bm3d_reference import bm3d_denoise_reference as denoise
    else:
        from ..denoise.bm3d import bm3d_denoise as denoise
    out = denoise(image, sigma=sigma, profile=profile, stage=stage, color_space=color_space, progress=progress)
    if out.is_cuda:
        torch.cuda.synchronize(out.device)
    seconds = time.perf_counter() - start
    space = f", colour space {color_space}" if image.shape[1] == 3 else ""
    lines = [
        f"BM3D denoise: backend {backend} ({_device_text(image, backend)}), profile {profile}, stage {stage}{space}, "
        f"{image.shape[0]} image(s) {image.shape[-1]}x{image.shape[-2]}, {seconds:.2f} s.",
        _sigma_lines(image, sigma),
    ]
    return {"image": out.clamp(0, 1), "report": "\n".join(lines)}


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
        Param("psf", "psf", help="The blur kernel (point spread function), e.g. from Make PSF."),
        sigma_param(help="Noise standard deviation in grey levels. 0 = estimate it from each image."),
        _choice("profile", "np", PROFILES, _PROFILE_HELP),
        _choice("color_space", "opp", COLOR_SPACES, _COLOR_HELP),
        _choice("backend", "restorekit", BACKENDS, _BACKEND_HELP, advanced=True),
        _choice(
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
    h, w = psf.shape
    space = f", colour space {color_space}" if image.shape[1] == 3 else ""
    lines = [
        f"BM3D deblur: PSF {psf.description} ({h}x{w}), backend {backend} ({_device_text(image, backend)}), "
        f"profile {profile}{space}, edges {edges}, {image.shape[0]} image(s) {image.shape[-1]}x{image.shape[-2]}, "
        f"{seconds:.2f} s.",
        _sigma_lines(image, sigma, SIGMA_FLOOR),
    ]
    return {"image": out.clamp(0, 1), "report": "\n".join(lines)}
