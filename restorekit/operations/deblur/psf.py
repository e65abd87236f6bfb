"""Make PSF: blur kernels for the deblur nodes."""

from __future__ import annotations

import torch

from ...deblur.psf import SHAPES, make_psf, psf_preview
from ...params import Output, Param, operation


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
        Param("shape", "choice", "gaussian", choices=SHAPES,
              help="Kind of blur: gaussian (soft, atmospheric), motion (camera shake along a line), disk (out of "
              "focus), airy (diffraction of a lens), custom (from the custom image)."),
        Param("sigma", "float", 2.0, min=0.1, max=50.0, step=0.1, units="pixels",
              help="Gaussian: standard deviation of the blur."),
        Param("length", "float", 9.0, min=0.0, max=200.0, step=0.5, units="pixels",
              help="Motion: length of the blur streak (fractions count)."),
        Param("angle", "float", 0.0, min=-360.0, max=360.0, step=1.0, units="degrees",
              help="Motion: direction, counter-clockwise from horizontal (90 = vertical)."),
        Param("radius", "float", 3.0, min=0.1, max=100.0, step=0.1, units="pixels",
              help="Disk: radius of the out-of-focus blur circle."),
        Param("wavelength", "float", 550.0, min=200.0, max=2000.0, step=10.0, units="nm", advanced=True,
              help="Airy: wavelength of the light (550 = green)."),
        Param("numerical_aperture", "float", 0.4, min=0.01, max=1.7, step=0.01, advanced=True,
              help="Airy: numerical aperture of the lens or objective."),
        Param("pixel_size", "float", 0.2, min=0.001, max=100.0, step=0.01, units="micrometres", advanced=True,
              help="Airy: size of one pixel at the object/sensor plane."),
        Param("size", "int", 0, min=0, max=401, step=1, units="pixels", advanced=True,
              help="Kernel width and height, odd. 0 = automatic (large enough for the shape)."),
        Param("custom", "image", optional=True,
              help="Custom: an image of the blur of a single point (e.g. a star); its brightness becomes the kernel."),
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
