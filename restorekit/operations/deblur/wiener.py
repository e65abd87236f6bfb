"""Wiener Deconvolution."""

from __future__ import annotations

import torch

from ...deblur.fft import PAD_MODES
from ...deblur.psf import PSF
from ...deblur.wiener import MODES, REGULARISERS, SIGMA_FLOOR, estimate_k, wiener_deconvolution
from ...params import Output, Param, operation
from ...progress import ProgressCallback
from ..common import IMAGE, PSF_INPUT, psf_text, sigma_param, sigma_text


@operation(
    "wiener_deconvolution",
    display_name="Wiener Deconvolution",
    category="deblur",
    description=(
        "Removes a known blur in one step with the Wiener filter. The strength is chosen automatically from "
        "the noise level (or set as K or an SNR); brightness is preserved exactly and the borders are padded "
        "so they do not ring. Fast on GPU."
    ),
    inputs=[
        IMAGE,
        PSF_INPUT,
        Param("mode", "choice", "auto", choices=MODES,
              help="How the regularisation is set: auto = from the noise level and the image (recommended); snr = "
              "from the signal-to-noise ratio below; k = the constant K below."),
        Param("k", "float", 0.01, min=1e-7, max=10.0, step=0.0001,
              help="Mode k: noise-to-signal constant K. Larger = smoother, less ringing."),
        Param("snr", "float", 20.0, min=-20.0, max=80.0, step=0.5, units="dB",
              help="Mode snr: signal-to-noise ratio (gradient power over noise power)."),
        Param("regulariser", "choice", "gradient", choices=REGULARISERS, advanced=True,
              help="What is penalised: gradient (natural-image prior, best), laplacian (Tikhonov-Miller, smoother) "
              "or identity (textbook constant K)."),
        sigma_param(help="Noise level of the image, used by mode auto. 0 = estimate it."),
        Param("edges", "choice", "replicate", choices=PAD_MODES, advanced=True,
              help="Border handling: replicate / reflect = pad the image and blend the padding so it wraps smoothly "
              "(replicate is best); periodic = no padding."),
    ],
    outputs=[Output("image", "image", "The deblurred image."), Output("report", "string", "What was done.")],
    gpu=True,
)
def run_wiener_deconvolution(
    image: torch.Tensor,
    psf: PSF,
    mode: str,
    k: float,
    snr: float,
    regulariser: str,
    sigma: float | None,
    edges: str,
    progress: ProgressCallback | None = None,
) -> dict[str, object]:
    lines = [f"Wiener deconvolution: PSF {psf_text(psf)}, regulariser {regulariser}, edges {edges}."]
    if mode == "auto":
        kk = estimate_k(image, psf, regulariser=regulariser, sigma=sigma, edges=edges)
        out = wiener_deconvolution(image, psf, mode="k", k=kk, regulariser=regulariser, edges=edges, progress=progress)
        how, sigmas = sigma_text(image, sigma)
        floor = f" (floored at {SIGMA_FLOOR * 255:.1f})" if min(sigmas) < SIGMA_FLOOR * 255 else ""
        lines.append(
            f"K automatic (noise sigma {how}{floor}, marginal likelihood): per image "
            + ", ".join(f"{v:.3g}" for v in kk.mean(dim=1).tolist())
            + "."
        )
        lines.append("Noise sigma (grey levels): " + ", ".join(f"{s:.2f}" for s in sigmas) + ".")
    else:
        out = wiener_deconvolution(
            image, psf, mode=mode, k=k, snr_db=snr, regulariser=regulariser, edges=edges, progress=progress
        )
        lines.append(f"K = {k:g}." if mode == "k" else f"SNR {snr:g} dB (K = {10 ** (-snr / 10):.3g}).")
    return {"image": out.clamp(0, 1), "report": "\n".join(lines)}
