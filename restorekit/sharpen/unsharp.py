"""Unsharp masking: add back a multiple of the detail that a Gaussian blur removes.

``out = x + amount * g(x - blur(x))`` where ``blur`` is a Gaussian of standard deviation
``radius`` pixels and ``g`` is an optional soft threshold that leaves low-contrast detail
(noise, skin texture) alone. By default only the luminance is sharpened, which avoids colour
fringes at edges.

The blur is torch (separable: shifted sums for short kernels, FFT for wide ones) and runs batched on any
device. Borders are extended by half-sample mirror reflection (``d c b a | a b c d``, the edge
pixel repeated; scipy's and scikit-image's ``mode="reflect"``), and the kernel is cut at 4 sigma
like scikit-image's, so with ``threshold=0`` the result matches
``skimage.filters.unsharp_mask(x, radius=radius, amount=amount)`` to float precision.
"""

from __future__ import annotations

import math

import torch

from ..color import luma
from ..enhance.spectral import fast_length
from ..errors import InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report

MAX_RADIUS = 200.0
MAX_AMOUNT = 5.0
_TRUNCATE = 4.0  # kernel half-width in standard deviations, as scipy/scikit-image
_SHIFT_TAPS = 17  # kernels up to this long are applied as shifted sums, longer ones through the FFT


def _symmetric_index(n: int, pad: int, device: torch.device) -> torch.Tensor:
    """Indices ``-pad .. n + pad - 1`` folded into ``[0, n)`` by half-sample mirroring (any ``pad``)."""
    i = torch.arange(-pad, n + pad, device=device) % (2 * n)
    return torch.where(i < n, i, 2 * n - 1 - i)


def gaussian_kernel1d(
    sigma: float, *, device: torch.device | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Normalised 1-D Gaussian of standard deviation ``sigma`` px, cut at ``round(4 sigma)`` px each side."""
    half = int(_TRUNCATE * sigma + 0.5)
    t = torch.arange(-half, half + 1, device=device, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2) if sigma > 0 else (t == 0).double()
    return (k / k.sum()).to(dtype)


def _mirror_pad(x: torch.Tensor, pad: int, dim: int) -> torch.Tensor:
    """Extend ``x`` by ``pad`` samples at both ends of ``dim`` by half-sample mirroring."""
    n = x.shape[dim]
    if pad < n:  # two flipped slices: much faster than a gather along the last axis on the CPU
        return torch.cat([x.narrow(dim, 0, pad).flip(dim), x, x.narrow(dim, n - pad, pad).flip(dim)], dim=dim)
    return x.index_select(dim, _symmetric_index(n, pad, x.device))


def _blur_axis(x: torch.Tensor, kernel: torch.Tensor, dim: int) -> torch.Tensor:
    """Convolve ``x`` with a symmetric 1-D ``kernel`` along ``dim`` (mirrored borders)."""
    taps = kernel.numel()
    half = taps // 2
    n = x.shape[dim]
    xp = _mirror_pad(x, half, dim)
    if taps <= _SHIFT_TAPS:
        # Short kernels: a sum of shifted copies (memory-bound, no im2col, fast on CPU and GPU).
        weights = kernel.tolist()
        out = xp.narrow(dim, 0, n) * weights[0]
        for i in range(1, taps):
            out.add_(xp.narrow(dim, i, n), alpha=weights[i])
        return out
    # Long kernels: linear convolution through the FFT; only the fully overlapping part is kept.
    size = fast_length(n + 2 * half + taps - 1)
    shape = [1] * x.dim()
    shape[dim] = -1
    spectrum = torch.fft.rfft(xp, n=size, dim=dim) * torch.fft.rfft(kernel, n=size).view(shape)
    return torch.fft.irfft(spectrum, n=size, dim=dim).narrow(dim, taps - 1, n)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of every channel of ``x`` ``[B, C, H, W]`` with std ``sigma`` px (mirror borders)."""
    kernel = gaussian_kernel1d(sigma, device=x.device, dtype=x.dtype)
    if kernel.numel() == 1:
        return x.clone()
    return _blur_axis(_blur_axis(x, kernel, 3), kernel, 2)


def _check_params(radius: float, amount: float, threshold: float) -> None:
    def number(v: object) -> bool:
        return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)

    if not number(radius) or not 0 < radius <= MAX_RADIUS:
        raise InvalidParameterError(
            "radius",
            f"expected a Gaussian sigma in (0, {MAX_RADIUS:g}] pixels, got {radius!r}.",
            "give e.g. 1.0 for fine detail or 3-5 for local contrast.",
        )
    if not number(amount) or not 0 <= amount <= MAX_AMOUNT:
        raise InvalidParameterError(
            "amount", f"expected a number in [0, {MAX_AMOUNT:g}], got {amount!r}.", "give e.g. 1.0 (0 = no change)."
        )
    if not number(threshold) or not 0 <= threshold <= 1:
        raise InvalidParameterError(
            "threshold",
            f"expected a number in [0, 1] (core units; 0-255 in the UI), got {threshold!r}.",
            "give 0 to sharpen everything, or e.g. 4/255 to leave faint detail alone.",
        )


def _soft_threshold(detail: torch.Tensor, threshold: float) -> torch.Tensor:
    """Keep detail whose magnitude exceeds ``threshold``, fading it in smoothly.

    The gain is 0 below ``t``, rises as a smoothstep to 1 at ``2 t`` and stays 1 above, so the
    output is a continuous, monotone function of the detail: no jumps (which a hard cut-off
    would produce as speckle along the threshold contour).
    """
    s = ((detail.abs() - threshold) / threshold).clamp(0.0, 1.0)
    return detail * (s * s * (3.0 - 2.0 * s))


def unsharp_mask(
    x: torch.Tensor,
    *,
    radius: float = 1.0,
    amount: float = 1.0,
    threshold: float = 0.0,
    luminance_only: bool = True,
    clamp: bool = True,
    progress: ProgressCallback | None = None,
) -> torch.Tensor:
    """Unsharp mask of a batch ``x`` ``[B, C, H, W]`` (C = 1 or 3, values in [0, 1]).

    Computes ``x + amount * g(x - G_radius * x)``.

    Args:
        radius: standard deviation of the Gaussian blur, in pixels (the sigma, not a kernel
            size; the kernel reaches 4 sigma each side). Same meaning as scikit-image's
            ``radius``. Small (0.5-1.5) sharpens fine detail, large (5-50) boosts local contrast.
        amount: strength, 0..5; 0 returns the input exactly, 1 adds the detail once.
        threshold: in [0, 1] units (the UI's 0-255 divided by 255). Only detail
            ``|x - blur|`` above it is sharpened, with a soft transition up to twice the
            threshold (see :func:`_soft_threshold`); 0 sharpens everything.
        luminance_only: for RGB, sharpen only BT.601 luma Y and keep Cb, Cr: the same change
            is added to R, G and B. Gray images and ``False`` sharpen every channel.
        clamp: clip the result to [0, 1] (default). ``False`` returns the raw values.
        progress: optional callback, called with (done, total) images.

    Returns:
        The sharpened batch, same shape, dtype and device as ``x``.
    """
    check_image(x, "image")
    _check_params(radius, amount, threshold)
    if not isinstance(luminance_only, bool):
        raise InvalidParameterError("luminance_only", f"expected true/false, got {luminance_only!r}.", None)
    total = x.shape[0]
    report(progress, 0, total)
    if amount == 0:
        report(progress, total, total)
        return x.clone()
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    xf = x.to(work)
    target = luma(xf) if luminance_only and x.shape[1] == 3 else xf
    detail = target - gaussian_blur(target, float(radius))
    if threshold > 0:
        detail = _soft_threshold(detail, float(threshold))
    out = xf + float(amount) * detail  # a one-channel luma change broadcasts to R, G and B
    if clamp:
        out = out.clamp(0.0, 1.0)
    report(progress, total, total)
    return out.to(x.dtype)
