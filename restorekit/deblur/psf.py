"""Point spread functions (PSFs): the blur kernels that every deblur operation takes.

A :class:`PSF` holds a 2-D float32 kernel ``[h, w]`` with odd sizes, non-negative, summing to 1.
Its *origin* is the centre pixel ``(h // 2, w // 2)`` (see :mod:`restorekit.deblur.fft` for the
convolution convention). The factory functions build centred kernels, integrated over the pixel
area (not point-sampled), so that fractional sizes, lengths and angles change the kernel
continuously:

* :func:`gaussian_psf`  - Gaussian, each pixel the exact integral (via ``erf``) over its square.
* :func:`motion_psf`    - uniform motion along a straight segment of exact length and angle; each
  pixel gets the length of the segment that crosses its square (analytic coverage), so a
  length of 7.5 pixels differs from 7 and 8 and every angle is honoured.
* :func:`disk_psf`      - defocus: a uniform disk, edge pixels weighted by their covered area
  (16 x 16 supersampling).
* :func:`airy_psf`      - diffraction of a circular aperture, ``(2 J1(v) / v)^2`` with
  ``v = 2 pi NA r / lambda``, averaged over 9 x 9 sub-pixel samples.
* :func:`psf_from_image` - a custom kernel from an image (e.g. a photographed star).

:func:`psf_preview` renders a kernel as a viewable image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import InvalidImageError, InvalidParameterError

#: Largest kernel side the factories build (pixels). Larger blurs are better handled by
#: downscaling the image first.
MAX_SIZE = 401
_SUM_TOLERANCE = 1e-3


@dataclass
class PSF:
    """A blur kernel and a human-readable description.

    ``kernel``: 2-D tensor ``[h, w]``, float32 (other float dtypes are converted), finite,
    non-negative, summing to 1 (within 1e-3; it is then renormalised exactly), odd ``h`` and ``w``,
    origin at the centre pixel. Use :meth:`from_array` to normalise an arbitrary non-negative array.
    """

    kernel: torch.Tensor
    description: str = "custom PSF"

    def __post_init__(self) -> None:
        k = self.kernel
        if not isinstance(k, torch.Tensor):
            raise InvalidParameterError("psf", f"the kernel must be a torch tensor, got {type(k).__name__}.", None)
        if k.dim() != 2:
            raise InvalidParameterError(
                "psf", f"the kernel must be 2-D [height, width], got shape {tuple(k.shape)}.", "pass a 2-D kernel."
            )
        h, w = k.shape
        if h % 2 == 0 or w % 2 == 0:
            raise InvalidParameterError(
                "psf",
                f"the kernel must have odd height and width (its centre is the origin), got {h}x{w}.",
                "pad it with one row/column of zeros, or build it with psf_from_image().",
            )
        if not k.is_floating_point():
            raise InvalidParameterError(
                "psf", f"the kernel must be a float tensor, got {k.dtype}.", "convert it to float."
            )
        k = k.detach().to(torch.float32)
        if not bool(torch.isfinite(k).all()):
            raise InvalidParameterError("psf", "the kernel contains NaN or infinite values.", None)
        if bool((k < 0).any()):
            raise InvalidParameterError(
                "psf", "the kernel has negative values; a blur kernel is non-negative.", "clip it at 0 and renormalise."
            )
        total = float(k.double().sum())
        if abs(total - 1.0) > _SUM_TOLERANCE:
            raise InvalidParameterError(
                "psf",
                f"the kernel must sum to 1 (it sums to {total:.6g}), otherwise deblurring changes the brightness.",
                "divide it by its sum, or build it with PSF.from_array().",
            )
        self.kernel = (k / k.sum()).contiguous()

    @classmethod
    def from_array(cls, kernel, description: str = "custom PSF") -> PSF:
        """A PSF from any non-negative 2-D array-like with odd sizes, normalised to sum 1."""
        k = torch.as_tensor(kernel)
        if not k.is_floating_point():
            k = k.to(torch.float32)
        k = k.detach().to(torch.float32)
        total = float(k.double().sum()) if k.numel() else 0.0
        if not math.isfinite(total) or total <= 0:
            raise InvalidParameterError("psf", "the kernel has no positive weight (its sum is not > 0).", None)
        return cls(k / total, description)

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.kernel.shape[0]), int(self.kernel.shape[1]))

    def kernel_on(self, device: torch.device | str) -> torch.Tensor:
        """The kernel as float32 on ``device``."""
        return self.kernel.to(device=device, dtype=torch.float32)

    def __repr__(self) -> str:
        return f"PSF({self.description!r}, {self.shape[0]}x{self.shape[1]})"


# ---- helpers -----------------------------------------------------------------------------------


def _positive(name: str, value: float, fix: str, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidParameterError(name, f"expected a finite number, got {value!r}.", fix)
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidParameterError(name, f"must be {'>= 0' if allow_zero else '> 0'}, got {value}.", fix)
    return float(value)


def _check_size(size: int | None, auto: int) -> int:
    """The kernel side: ``size`` when given (odd, >= 1), else ``auto`` made odd; capped at MAX_SIZE."""
    if size is None or size == 0:
        n = max(int(auto), 1)
        n = n if n % 2 == 1 else n + 1
        return min(n, MAX_SIZE)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise InvalidParameterError(
            "size", f"expected a positive whole number of pixels, got {size!r}.", "use 0 for automatic."
        )
    if size % 2 == 0:
        raise InvalidParameterError(
            "size",
            f"the kernel size must be odd so that it has a centre pixel, got {size}.",
            f"use {size + 1} (or 0 for automatic).",
        )
    if size > MAX_SIZE:
        raise InvalidParameterError(
            "size", f"{size} pixels is too large (at most {MAX_SIZE}).", "downscale the image first."
        )
    return size


def _grid(n: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Pixel-centre offsets ``-(n // 2) .. n // 2``."""
    return torch.arange(n, dtype=dtype) - n // 2


def _finish(k: torch.Tensor, description: str) -> PSF:
    k = k.clamp_min(0)
    total = float(k.sum())
    if total <= 0:
        raise InvalidParameterError(
            "size", "the kernel is empty at this size.", "use a larger size or 0 for automatic."
        )
    return PSF((k / total).to(torch.float32), description)


# ---- factories ---------------------------------------------------------------------------------


def gaussian_psf(sigma_px: float, size: int | None = None) -> PSF:
    """An isotropic Gaussian blur of standard deviation ``sigma_px`` pixels.

    Each tap is the exact integral of the Gaussian over its pixel square (difference of
    ``erf``), so tiny sigmas give a near-Dirac kernel instead of aliasing. Automatic size:
    ``2 * ceil(3.5 sigma) + 1`` (at least 3).
    """
    sigma = _positive("sigma", sigma_px, "give the blur's standard deviation in pixels, e.g. 1.5.")
    n = _check_size(size, max(2 * math.ceil(3.5 * sigma) + 1, 3))
    t = _grid(n)
    s = sigma * math.sqrt(2.0)
    g = 0.5 * (torch.erf((t + 0.5) / s) - torch.erf((t - 0.5) / s))
    return _finish(g[:, None] * g[None, :], f"gaussian sigma={sigma:g}px")


def motion_psf(length_px: float, angle_deg: float, size: int | None = None) -> PSF:
    """Uniform linear motion: a straight segment of ``length_px`` pixels at ``angle_deg`` degrees.

    The angle is measured counter-clockwise from the positive x axis as the image is viewed (rows
    grow downwards), so 0 is horizontal and 90 vertical; 180 equals 0. The segment is centred on
    the kernel's centre pixel; each pixel's weight is the length of the segment inside its square
    (exact analytic coverage), divided by the total length. A length below 1e-6 gives a Dirac.
    Automatic size: the smallest odd square that holds the segment plus one pixel of margin.
    """
    length = _positive("length", length_px, "give the motion length in pixels, e.g. 9.", allow_zero=True)
    if isinstance(angle_deg, bool) or not isinstance(angle_deg, (int, float)) or not math.isfinite(angle_deg):
        raise InvalidParameterError("angle", f"expected a finite angle in degrees, got {angle_deg!r}.", None)
    theta = math.radians(angle_deg)
    dx, dy = math.cos(theta), -math.sin(theta)  # image rows grow downwards
    half_x = abs(dx) * length / 2
    half_y = abs(dy) * length / 2
    auto = 2 * math.ceil(max(half_x, half_y) + 0.5) + 1
    n = _check_size(size, auto)
    if length < 1e-6:
        k = torch.zeros((n, n), dtype=torch.float64)
        k[n // 2, n // 2] = 1.0
        return _finish(k, "motion length=0px")
    c = _grid(n)
    py, px = c[:, None].expand(n, n), c[None, :].expand(n, n)
    lo = torch.full((n, n), -length / 2, dtype=torch.float64)
    hi = torch.full((n, n), length / 2, dtype=torch.float64)
    # Liang-Barsky clipping of the segment t * (dx, dy), |t| <= L/2, against each pixel square.
    for d, p in ((dx, px), (dy, py)):
        if abs(d) < 1e-12:
            # The segment runs along this axis' zero line, which only the centre column/row holds
            # (pixel borders lie at half-integers, never at 0).
            hi = torch.where(p.abs() < 0.5, hi, lo)
        else:
            t1 = (p - 0.5) / d
            t2 = (p + 0.5) / d
            lo = torch.maximum(lo, torch.minimum(t1, t2))
            hi = torch.minimum(hi, torch.maximum(t1, t2))
    k = (hi - lo).clamp_min(0)
    k = torch.where(k > 1e-9 * length, k, torch.zeros_like(k))  # rounding dust where the segment grazes a corner
    return _finish(k, f"motion length={length:g}px angle={angle_deg:g}deg")


def disk_psf(radius_px: float, size: int | None = None) -> PSF:
    """Defocus blur: a uniform disk of radius ``radius_px`` pixels.

    Pixels on the rim get the fraction of their area inside the circle (16 x 16 sub-pixel
    samples), so the edge is anti-aliased and the radius acts continuously. Automatic size:
    ``2 * ceil(radius + 0.5) + 1``.
    """
    radius = _positive("radius", radius_px, "give the defocus radius in pixels, e.g. 3.")
    n = _check_size(size, 2 * math.ceil(radius + 0.5) + 1)
    ss = 16
    sub = (torch.arange(ss, dtype=torch.float64) + 0.5) / ss - 0.5
    c = _grid(n)
    # Rows of sub-samples: [n * ss] coordinates along each axis.
    coords = (c[:, None] + sub[None, :]).reshape(-1)
    inside = (coords[:, None] ** 2 + coords[None, :] ** 2 <= radius**2).to(torch.float64)
    k = inside.view(n, ss, n, ss).mean(dim=(1, 3))
    if float(k.sum()) <= 0:  # a radius far below a pixel: all weight in the centre
        k = torch.zeros((n, n), dtype=torch.float64)
        k[n // 2, n // 2] = 1.0
    return _finish(k, f"disk radius={radius:g}px")


def airy_psf(wavelength_nm: float, numerical_aperture: float, pixel_size_um: float, size: int | None = None) -> PSF:
    """Diffraction-limited blur of a circular aperture (the Airy pattern).

    Intensity ``I(r) = (2 J1(v) / v)^2`` with ``v = 2 pi NA r / lambda``; ``r`` is the distance
    from the centre in micrometres at the sensor/object plane sampled with ``pixel_size_um``
    micrometres per pixel. The first dark ring lies at ``0.61 lambda / NA``. Each pixel is the
    mean of 9 x 9 sub-pixel samples. Automatic size: four times the first-ring radius (about
    96 % of the energy), at least 3 pixels.
    """
    wavelength = _positive("wavelength", wavelength_nm, "give the light's wavelength in nm, e.g. 550.")
    na = _positive("numerical_aperture", numerical_aperture, "give the objective's numerical aperture, e.g. 0.5.")
    pixel = _positive("pixel_size", pixel_size_um, "give the pixel size in micrometres, e.g. 0.2.")
    lam_um = wavelength / 1000.0
    first_zero_px = 0.61 * lam_um / na / pixel
    n = _check_size(size, 2 * math.ceil(4 * first_zero_px) + 1 if first_zero_px > 0.25 else 3)
    ss = 9
    sub = (torch.arange(ss, dtype=torch.float64) + 0.5) / ss - 0.5
    coords = (_grid(n)[:, None] + sub[None, :]).reshape(-1) * pixel
    r = torch.sqrt(coords[:, None] ** 2 + coords[None, :] ** 2)
    v = 2 * math.pi * na * r / lam_um
    safe = torch.where(v > 1e-8, v, torch.ones_like(v))
    amp = torch.where(v > 1e-8, 2 * torch.special.bessel_j1(safe) / safe, torch.ones_like(v))
    k = (amp**2).view(n, ss, n, ss).mean(dim=(1, 3))
    return _finish(k, f"airy lambda={wavelength:g}nm NA={na:g} pixel={pixel:g}um")


def psf_from_image(img: torch.Tensor, description: str = "custom PSF from image") -> PSF:
    """A custom PSF from an image of the blur (e.g. a photographed point source).

    ``img``: a core image ``[1, C, H, W]`` (C = 1 or 3) or a 2-D ``[H, W]`` tensor, values >= 0.
    The luma (BT.601) is taken, negative values clipped, empty (all-zero) borders cropped, and the
    result padded with zeros to an odd square-free canvas on which the intensity centroid falls
    on the centre pixel (to the nearest pixel), then normalised to sum 1.
    """
    if not isinstance(img, torch.Tensor):
        raise InvalidImageError("custom", f"expected an image tensor, got {type(img).__name__}.", "connect an IMAGE.")
    if img.dim() == 4:
        if img.shape[0] != 1 or img.shape[1] not in (1, 3):
            raise InvalidImageError(
                "custom",
                f"expected one gray or RGB image [1, C, H, W] with C = 1 or 3, got shape {tuple(img.shape)}.",
                "pass a single image (batch of 1) showing the blur of a point.",
            )
        from ..color import luma

        k = luma(img.detach().to(torch.float32))[0, 0]
    elif img.dim() == 2:
        k = img.detach().to(torch.float32)
    else:
        raise InvalidImageError("custom", f"expected [1, C, H, W] or [H, W], got shape {tuple(img.shape)}.", None)
    if not bool(torch.isfinite(k).all()):
        raise InvalidImageError("custom", "the image contains NaN or infinite values.", None)
    k = k.double().cpu().clamp_min(0)
    total = float(k.sum())
    if total <= 0:
        raise InvalidImageError("custom", "the PSF image is entirely black.", "use an image with a bright blur spot.")
    k = k / total
    nz = torch.nonzero(k > 1e-12 * float(k.max()))
    r0, c0 = (int(v) for v in nz.min(dim=0).values)
    r1, c1 = (int(v) for v in nz.max(dim=0).values)
    k = k[r0 : r1 + 1, c0 : c1 + 1]
    h, w = k.shape
    cy = float((k.sum(dim=1) * torch.arange(h, dtype=k.dtype)).sum())
    cx = float((k.sum(dim=0) * torch.arange(w, dtype=k.dtype)).sum())
    iy, ix = int(round(cy)), int(round(cx))
    half_h = max(iy, h - 1 - iy)
    half_w = max(ix, w - 1 - ix)
    if 2 * max(half_h, half_w) + 1 > MAX_SIZE:
        raise InvalidImageError(
            "custom", f"the PSF is {h}x{w} pixels around its centre, more than {MAX_SIZE}.", "crop it to the blur spot."
        )
    out = torch.zeros((2 * half_h + 1, 2 * half_w + 1), dtype=k.dtype)
    top, left = half_h - iy, half_w - ix
    out[top : top + h, left : left + w] = k
    return _finish(out, description)


def psf_preview(psf: PSF, min_size: int = 64) -> torch.Tensor:
    """Render ``psf`` as a gray image ``[1, 1, H, W]`` float32 in [0, 1], ``H, W >= min_size``.

    The kernel is scaled so its maximum is 1 and enlarged by the smallest whole factor ``f`` that
    makes its longer side at least ``min_size`` pixels (nearest neighbour, so taps stay square);
    a narrow kernel is then centred on a black canvas so the short side reaches ``min_size`` too.
    """
    k = psf.kernel.to(torch.float32)
    k = k / k.max().clamp_min(1e-12)
    f = max(1, math.ceil(min_size / max(k.shape)))
    img = k.repeat_interleave(f, dim=0).repeat_interleave(f, dim=1)
    h, w = img.shape
    ph, pw = max(0, min_size - h), max(0, min_size - w)
    img = torch.nn.functional.pad(img, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
    return img[None, None].clamp(0, 1).contiguous()


SHAPES = ("gaussian", "motion", "disk", "airy", "custom")


def make_psf(
    shape: str,
    *,
    sigma: float = 2.0,
    length: float = 9.0,
    angle: float = 0.0,
    radius: float = 3.0,
    wavelength: float = 550.0,
    numerical_aperture: float = 0.4,
    pixel_size: float = 0.2,
    size: int | None = None,
    custom: torch.Tensor | None = None,
) -> PSF:
    """Build a PSF by shape name (``gaussian``, ``motion``, ``disk``, ``airy``, ``custom``).

    ``size`` (odd pixels; None or 0 = automatic) applies to the parametric shapes; ``custom`` is
    an image for :func:`psf_from_image`.
    """
    if shape == "gaussian":
        return gaussian_psf(sigma, size)
    if shape == "motion":
        return motion_psf(length, angle, size)
    if shape == "disk":
        return disk_psf(radius, size)
    if shape == "airy":
        return airy_psf(wavelength, numerical_aperture, pixel_size, size)
    if shape == "custom":
        if custom is None:
            raise InvalidParameterError(
                "custom", "shape 'custom' needs an image of the PSF.", "connect the custom input."
            )
        return psf_from_image(custom[:1] if custom.dim() == 4 else custom)
    raise InvalidParameterError("shape", f"unknown PSF shape {shape!r}.", f"choose one of: {', '.join(SHAPES)}.")
