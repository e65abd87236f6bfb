"""Deblurring operations: Make PSF, Richardson–Lucy, Wiener Deconvolution."""

from __future__ import annotations

import torch

from ..deblur.fft import PAD_MODES
from ..deblur.psf import PSF, SHAPES, make_psf, psf_preview
from ..deblur.richardson_lucy import EDGE_MODES, INIT_MODES, TV_PER_SIGMA, richardson_lucy
from ..deblur.wiener import MODES, REGULARISERS, SIGMA_FLOOR, estimate_k, wiener_deconvolution
from ..params import IMAGE, Output, Param, operation, sigma_param
from ..progress import ProgressCallback
from ..quality.noise import estimate_sigma

PSF_INPUT = Param("psf", "psf", help="The blur kernel (point spread function), e.g. from Make PSF.")


def _psf_text(psf: PSF) -> str:
    h, w = psf.shape
    return f"{psf.description} ({h}x{w})"


def _sigma_text(image: torch.Tensor, sigma: float | None) -> tuple[str, list[float]]:
    """Noise sigma per image in grey levels (mean over channels) and how it was obtained."""
    if sigma is not None:
        return "given", [sigma * 255.0] * image.shape[0]
    return "estimated", (estimate_sigma(image.float()).mean(dim=1) * 255.0).tolist()


@operation(
    "make_psf",
    display_name="Make PSF",
    category="deblur",
    description=(
        "Builds a blur kernel (point spread function) for the deblur nodes: Gaussian, motion along a line, "
        "defocus disk, diffraction (Airy) or a custom kernel from an image. Kernels are integrated over each "
        "pixel, so fractional sizes and any angle are exact. The preview shows the kernel enlarged."
    ),
    inputs=[
        Param(
            "shape",
            "choice",
            "gaussian",
            choices=SHAPES,
            help=(
                "Kind of blur: gaussian (soft, atmospheric), motion (camera shake along a line), disk (out of "
                "focus), airy (diffraction of a lens), custom (from the custom image)."
            ),
        ),
        Param(
            "sigma",
            "float",
            2.0,
            help="Gaussian: standard deviation of the blur.",
            min=0.1,
            max=50.0,
            step=0.1,
            units="pixels",
        ),
        Param(
            "length",
            "float",
            9.0,
            help="Motion: length of the blur streak (fractions count).",
            min=0.0,
            max=200.0,
            step=0.5,
            units="pixels",
        ),
        Param(
            "angle",
            "float",
            0.0,
            help="Motion: direction, counter-clockwise from horizontal (90 = vertical).",
            min=-360.0,
            max=360.0,
            step=1.0,
            units="degrees",
        ),
        Param(
            "radius",
            "float",
            3.0,
            help="Disk: radius of the out-of-focus blur circle.",
            min=0.1,
            max=100.0,
            step=0.1,
            units="pixels",
        ),
        Param(
            "wavelength",
            "float",
            550.0,
            help="Airy: wavelength of the light (550 = green).",
            min=200.0,
            max=2000.0,
            step=10.0,
            units="nm",
            advanced=True,
        ),
        Param(
            "numerical_aperture",
            "float",
            0.4,
            help="Airy: numerical aperture of the lens or objective.",
            min=0.01,
            max=1.7,
            step=0.01,
            advanced=True,
        ),
        Param(
            "pixel_size",
            "float",
            0.2,
            help="Airy: size of one pixel at the object/sensor plane.",
            min=0.001,
            max=100.0,
            step=0.01,
            units="micrometres",
            advanced=True,
        ),
        Param(
            "size",
            "int",
            0,
            help="Kernel width and height, odd. 0 = automatic (large enough for the shape).",
            min=0,
            max=401,
            step=1,
            units="pixels",
            advanced=True,
        ),
        Param(
            "custom",
            "image",
            optional=True,
            help="Custom: an image of the blur of a single point (e.g. a star); its brightness becomes the kernel.",
        ),
    ],
    outputs=[
        Output("psf", "psf", "The blur kernel, for Richardson–Lucy, Wiener and the other deblur nodes."),
        Output("preview", "image", "The kernel as a gray image, brightest tap white, enlarged so it is visible."),
    ],
    gpu=False,
)
def run_make_psf(
    shape: str,
    sigma: float,
    length: float,
    angle: float,
    radius: float,
    wavelength: float,
    numerical_aperture: float,
    pixel_size: float,
    size: int,
    custom: torch.Tensor | None,
) -> dict[str, object]:
    psf = make_psf(
        shape,
        sigma=sigma,
        length=length,
        angle=angle,
        radius=radius,
        wavelength=wavelength,
        numerical_aperture=numerical_aperture,
        pixel_size=pixel_size,
        size=size or None,
        custom=None if custom is None else custom.detach().cpu(),
    )
    return {"psf": psf, "preview": psf_preview(psf)}


@operation(
    "richardson_lucy",
    display_name="Richardson–Lucy",
    category="deblur",
    description=(
        "Removes a known blur by Richardson–Lucy iterations with total-variation regularisation (which keeps "
        "noise and ringing down), started from a Wiener estimate. Pixels beyond the frame are treated as "
        "unknown, so the borders stay clean and the brightness is kept."
    ),
    inputs=[
        IMAGE,
        PSF_INPUT,
        Param(
            "iterations",
            "int",
            100,
            help="Number of Richardson–Lucy steps. More = sharper, slower.",
            min=0,
            max=5000,
            step=1,
        ),
        Param(
            "regularise",
            "bool",
            True,
            help="Total-variation regularisation (Dey et al.): suppresses noise and ringing. Off = plain RL.",
        ),
        Param(
            "tv_weight",
            "float",
            0.0,
            help="Strength of the TV regularisation. 0 = automatic (0.35 x noise "
            "sigma in [0,1] units, about 0.0035 at 2.55 grey levels of noise).",
            min=0.0,
            max=0.2,
            step=0.0005,
            zero_is_auto=True,
            advanced=True,
        ),
        Param(
            "damping",
            "float",
            0.0,
            help="White's damping: stop fitting where the model is already within this "
            "many noise sigmas of the image. 0 = off.",
            min=0.0,
            max=10.0,
            step=0.1,
            units="noise sigmas",
            advanced=True,
        ),
        sigma_param(
            help="Noise level of the image, used by the automatic TV weight, damping and the Wiener start. "
            "0 = estimate it."
        ),
        Param(
            "acceleration",
            "bool",
            True,
            help="Biggs–Andrews extrapolation: converges in fewer iterations.",
            advanced=True,
        ),
        Param(
            "edges",
            "choice",
            "unseen",
            choices=EDGE_MODES,
            help=(
                "Border handling: unseen = the scene beyond the frame is unknown (best); reflect / replicate = pad the "
                "image; periodic = the image wraps around."
            ),
            advanced=True,
        ),
        Param(
            "init",
            "choice",
            "wiener",
            choices=INIT_MODES,
            help="Starting estimate: the automatic Wiener result (faster) or the blurred image itself.",
            advanced=True,
        ),
    ],
    outputs=[Output("image", "image", "The deblurred image."), Output("report", "string", "What was done.")],
    gpu=True,
)
def run_richardson_lucy(
    image: torch.Tensor,
    psf: PSF,
    iterations: int,
    regularise: bool,
    tv_weight: float | None,
    damping: float,
    sigma: float | None,
    acceleration: bool,
    edges: str,
    init: str,
    progress: ProgressCallback | None = None,
) -> dict[str, object]:
    weight = tv_weight if regularise else 0.0  # None = automatic
    out = richardson_lucy(
        image,
        psf,
        iterations=iterations,
        tv_weight=weight,
        damping=damping,
        sigma=sigma,
        acceleration=acceleration,
        edges=edges,
        init=init,
        progress=progress,
    )
    how, sigmas = _sigma_text(image, sigma)
    if not regularise:
        tv = "TV off"
    elif tv_weight is None:
        tv = "TV weight auto " + ", ".join(f"{TV_PER_SIGMA * max(s / 255.0, 0.5 / 255):.4f}" for s in sigmas)
    else:
        tv = f"TV weight {tv_weight:g}"
    lines = [
        f"Richardson–Lucy: PSF {_psf_text(psf)}, {iterations} iterations, {tv}, "
        f"damping {'off' if damping == 0 else f'{damping:g} sigma'}, acceleration {'on' if acceleration else 'off'}, "
        f"edges {edges}, start {init}.",
        f"Noise sigma ({how}, grey levels): " + ", ".join(f"{s:.2f}" for s in sigmas) + ".",
    ]
    return {"image": out.clamp(0, 1), "report": "\n".join(lines)}


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
        Param(
            "mode",
            "choice",
            "auto",
            choices=MODES,
            help=(
                "How the regularisation is set: auto = from the noise level and the image (recommended); snr = from "
                "the signal-to-noise ratio below; k = the constant K below."
            ),
        ),
        Param(
            "k",
            "float",
            0.01,
            help="Mode k: noise-to-signal constant K. Larger = smoother, less ringing.",
            min=1e-7,
            max=10.0,
            step=0.0001,
        ),
        Param(
            "snr",
            "float",
            20.0,
            help="Mode snr: signal-to-noise ratio (gradient power over noise power).",
            min=-20.0,
            max=80.0,
            step=0.5,
            units="dB",
        ),
        Param(
            "regulariser",
            "choice",
            "gradient",
            choices=REGULARISERS,
            help=(
                "What is penalised: gradient (natural-image prior, best), laplacian (Tikhonov-Miller, smoother) or "
                "identity (textbook constant K)."
            ),
            advanced=True,
        ),
        sigma_param(help="Noise level of the image, used by mode auto. 0 = estimate it."),
        Param(
            "edges",
            "choice",
            "replicate",
            choices=PAD_MODES,
            help=(
                "Border handling: replicate / reflect = pad the image and blend the padding so it wraps smoothly "
                "(replicate is best); periodic = no padding."
            ),
            advanced=True,
        ),
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
    lines = [f"Wiener deconvolution: PSF {_psf_text(psf)}, regulariser {regulariser}, edges {edges}."]
    if mode == "auto":
        kk = estimate_k(image, psf, regulariser=regulariser, sigma=sigma, edges=edges)
        out = wiener_deconvolution(image, psf, mode="k", k=kk, regulariser=regulariser, edges=edges, progress=progress)
        how, sigmas = _sigma_text(image, sigma)
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
