"""What operation declarations share: parameter factories and report helpers.

Factories keep one definition of the inputs many nodes have (the image, a noise sigma in 0-255
grey levels, a seed, a choice, a PSF); report helpers keep the text reports alike. By convention
an operation's human-readable account of what it did is a ``string`` output named ``report``
(the boundary adds its own notes to it, e.g. an input it ignored), with noise levels in 0-255.
"""

from __future__ import annotations

import torch

from ..deblur.psf import PSF
from ..params import Output, Param
from ..quality.noise import estimate_sigma

IMAGE = Param("image", "image", help="The image or batch of images to process.")

PSF_INPUT = Param("psf", "psf", help="The blur kernel (point spread function), e.g. from Make PSF.")


def sigma_param(name: str = "sigma", help: str = "Noise standard deviation. 0 = estimate it from the image.") -> Param:
    """Noise sigma as users give it (0-255, 0 = auto); the core receives [0, 1] or None."""
    return Param(
        name, "float", 0.0, help=help, min=0.0, max=255.0, step=0.5, units="0-255 grey levels", scale=1 / 255,
        zero_is_auto=True,
    )


def seed_param() -> Param:
    """A random seed (ComfyUI shows its control-after-generate widget)."""
    return Param("seed", "int", 0, help="Random seed; the same seed gives the same result.", min=0, max=2**31 - 1)


def choice_param(name: str, default: str, choices: tuple[str, ...], help: str, advanced: bool = False) -> Param:
    """A drop-down of ``choices``."""
    return Param(name, "choice", default, choices=choices, help=help, advanced=advanced)


def blend_param(help: str = "Blend with the input: 0 = unchanged, 1 = full effect.") -> Param:
    """``strength``: how much of the result is kept, 0-1 (a linear blend with the input)."""
    return Param("strength", "float", 1.0, min=0.0, max=1.0, step=0.05, help=help)


def image_output(help: str) -> Output:
    """The ``image`` output."""
    return Output("image", "image", help)


def report_output(help: str = "What was done, with the settings used.") -> Output:
    """The ``report`` output (see the module docstring)."""
    return Output("report", "string", help)


def psf_text(psf: PSF) -> str:
    """A PSF as a report writes it: description and size."""
    h, w = psf.shape
    return f"{psf.description} ({h}x{w})"


def sigma_text(image: torch.Tensor, sigma: float | None) -> tuple[str, list[float]]:
    """Noise sigma per image in grey levels (mean over channels) and how it was obtained."""
    if sigma is not None:
        return "given", [sigma * 255.0] * image.shape[0]
    return "estimated", (estimate_sigma(image.float()).mean(dim=1) * 255.0).tolist()


def image_summary(x: torch.Tensor) -> str:
    """``3 images, RGB, 640x480 px``."""
    b, c, h, w = x.shape
    return f"{b} image{'s' if b != 1 else ''}, {'RGB' if c == 3 else 'gray'}, {w}x{h} px"


def text_table(header: list[str], rows: list[list[str]]) -> str:
    """Right-aligned columns for a report."""
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)
