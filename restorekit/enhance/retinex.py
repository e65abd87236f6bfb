"""Multiscale Retinex: MSR, MSR with colour restoration (MSRCR) and with chromaticity preservation (MSRCP).

A. B. Petro, C. Sbert, J.-M. Morel, "Multiscale Retinex", Image Processing On Line 4 (2014),
pp. 71-88, https://doi.org/10.5201/ipol.2014.107, after D. J. Jobson, Z. Rahman, G. A. Woodell,
"A Multiscale Retinex for Bridging the Gap Between Color Images and the Human Observation of
Scenes", IEEE Trans. Image Processing 6(7), 1997.

What is computed (``v = 255 x + 1``: 8-bit grey levels shifted by one so the logarithm is finite,
as in the IPOL implementation):

- **MSR** of a channel: ``R = (1/N) sum_n [log v - log(G_n * v)]`` with ``G_n`` a normalised
  Gaussian surround of standard deviation ``sigma_n`` pixels (the scales, default 15, 80, 250).
- **Simplest colour balance** ``SCB(R; s1, s2)``: the values below the ``s1`` % and above the
  ``(100 - s2)`` % order statistics are saturated and the rest is stretched affinely to [0, 255]
  (IPOL: ``min = sorted[floor(s1 n / 100)]``, ``max = sorted[n - 1 - floor(s2 n / 100)]``).
- ``method="msr"``: ``SCB(MSR(v_c))`` for every channel c.
- ``method="msrcr"``: ``SCB(C_c MSR(v_c))`` per channel with the colour restoration
  ``C_c = beta (log(alpha v_c) - log(sum_k v_k))``, ``alpha = 125``, ``beta = 46`` (Jobson's
  constants). Jobson's final gain and offset (``G = 192``, ``b = -30``) are an increasing affine
  map, which the colour balance that replaces them (as in the IPOL article) makes irrelevant.
- ``method="msrcp"``: on the intensity ``I = (v_R + v_G + v_B) / 3``: ``Int = SCB(MSR(I))``,
  then every pixel is amplified by ``A = min(Int / I, 255 / max_c v_c)`` (``max_gain`` caps it
  further; the IPOL demo code uses 3) and ``out_c = A v_c``: R, G, B keep their ratios (the
  chromaticity), and no channel exceeds 255.

A gray image (C = 1) is the MSR of its single channel followed by the balance for every method
(the colour restoration is then a positive constant and the amplification gives back ``Int``;
only ``max_gain`` can still limit it). The result is divided by 255.

The Gaussian surrounds are convolutions with a **symmetric (half-sample mirror) boundary**, done
in the DCT domain as in the IPOL code: the image is extended by mirroring to ``2H x 2W`` (the
even extension whose DFT is the DCT-II), transformed once with ``rfft2``, multiplied by the
Gaussian's transfer function ``exp(-sigma^2 |omega|^2 / 2)`` for all scales at once (one
broadcast multiply, ``[scales, 2H, W + 1]``), and transformed back. The cost does not depend on
the scale: sigma = 250 px costs the same as 15 px. Scales may also be given relative to the image
(``scale_unit="relative"``: thousandths of the longer side, so the defaults keep their pixel
meaning on a 1000-pixel image and grow to 58, 307 and 960 px on a 3840-pixel one).

Where a channel (MSR, MSRCR) or the intensity (MSRCP) has nothing to stretch, the balance would
divide by a zero range: the original IPOL code then returns a constant, which is how a Retinex
"returns black". Here that channel (or image) is returned unchanged instead: a constant image stays
the same constant. "Nothing to stretch" means a constant input or a balance range below
``1e-4`` in the log domain (local contrast varying by less than 0.01 %: invisible even in a 16-bit
result, and far above the float32 rounding of the FFT, which is exactly 0 on constant images).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..errors import InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report

METHODS = ("msrcp", "msrcr", "msr")
SCALE_UNITS = ("pixels", "relative")
DEFAULT_SCALES = (15.0, 80.0, 250.0)
ALPHA = 125.0  # colour restoration: C = BETA * (log(ALPHA v_c) - log(sum v))
BETA = 46.0
MAX_SCALES = 8
MAX_SCALE_PX = 10000.0
MAX_GAIN = 1000.0
# A balance range (log domain) at or below this is "nothing to stretch" (see the module docstring).
_FLAT_RANGE = 1e-4
# Elements of the per-scale filtered stack [channels, scales, 2H, 2W] formed at once.
_CHUNK_ELEMENTS = 1 << 27


@dataclass(frozen=True)
class RetinexInfo:
    """What :func:`retinex` did: the method, the scales in pixels (Gaussian sigma), the clipping
    percentages, and ``unchanged`` ``[B]`` bool: images with nothing to stretch, returned as they were."""

    method: str
    scales_px: tuple[float, ...]
    low_clip: float
    high_clip: float
    unchanged: torch.Tensor


def _number(v: object) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def retinex_scales(
    scales: Sequence[float], scale_unit: str, height: int, width: int
) -> tuple[float, ...]:
    """The Gaussian surround sigmas in pixels for an image of ``height x width``.

    ``scale_unit="pixels"``: ``scales`` as given. ``"relative"``: thousandths of the longer side
    (``sigma_px = s * max(height, width) / 1000``).
    """
    if scale_unit not in SCALE_UNITS:
        raise InvalidParameterError(
            "scale_unit", f"{scale_unit!r} is not supported.", f"choose one of: {', '.join(SCALE_UNITS)}."
        )
    if isinstance(scales, (str, bytes)) or not isinstance(scales, Sequence) or not 1 <= len(scales) <= MAX_SCALES:
        raise InvalidParameterError(
            "scales",
            f"expected 1 to {MAX_SCALES} scales (Gaussian sigmas), got {scales!r}.",
            "give e.g. (15, 80, 250).",
        )
    if not all(_number(s) and 0 < s <= MAX_SCALE_PX for s in scales):
        raise InvalidParameterError(
            "scales",
            f"every scale must be a number in (0, {MAX_SCALE_PX:g}], got {tuple(scales)!r}.",
            "give positive Gaussian sigmas, e.g. (15, 80, 250) pixels.",
        )
    factor = max(height, width) / 1000.0 if scale_unit == "relative" else 1.0
    return tuple(float(s) * factor for s in scales)


def _check_params(method: str, low_clip: float, high_clip: float, max_gain: float | None, strength: float) -> None:
    if method not in METHODS:
        raise InvalidParameterError("method", f"{method!r} is not supported.", f"choose one of: {', '.join(METHODS)}.")
    for name, value in (("low_clip", low_clip), ("high_clip", high_clip)):
        if not _number(value) or not 0.0 <= value < 50.0:
            raise InvalidParameterError(
                name, f"expected a percentage in [0, 50), got {value!r}.", "give e.g. 1 (the IPOL default)."
            )
    if max_gain is not None and (not _number(max_gain) or not 1.0 <= max_gain <= MAX_GAIN):
        raise InvalidParameterError(
            "max_gain",
            f"expected None (no limit) or a factor in [1, {MAX_GAIN:g}], got {max_gain!r}.",
            "give None, or e.g. 3 (the IPOL demo code's cap).",
        )
    if not _number(strength) or not 0.0 <= strength <= 1.0:
        raise InvalidParameterError("strength", f"expected a number in [0, 1], got {strength!r}.", "give e.g. 1.0.")


def _transfer(sigmas: Sequence[float], h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Gaussian transfer functions on the ``rfft2`` grid of a ``2h x 2w`` image: ``[S, 2h, w + 1]``."""
    s2 = torch.tensor([s * s for s in sigmas], device=device, dtype=dtype).view(-1, 1, 1)
    wy = torch.fft.fftfreq(2 * h, device=device, dtype=dtype).mul_(2 * math.pi).square_().view(1, -1, 1)
    wx = torch.fft.rfftfreq(2 * w, device=device, dtype=dtype).mul_(2 * math.pi).square_().view(1, 1, -1)
    return torch.exp(-0.5 * s2 * (wy + wx))


def gaussian_surrounds(v: torch.Tensor, sigmas: Sequence[float]) -> torch.Tensor:
    """Gaussian blurs of every channel of ``v`` ``[B, C, H, W]`` at each sigma (px): ``[B, C, S, H, W]``.

    Symmetric (half-sample mirror) boundary, computed in the DCT domain through one ``rfft2`` of
    the ``2H x 2W`` even extension and one batched multiply for all scales (see the module docstring).
    """
    b, c, h, w = v.shape
    flat = v.reshape(b * c, 1, h, w)
    ext = torch.cat([flat, flat.flip(-1)], dim=-1)
    ext = torch.cat([ext, ext.flip(-2)], dim=-2)
    transfer = _transfer(sigmas, h, w, v.device, v.dtype)
    per_channel = len(sigmas) * 4 * h * w
    step = max(1, _CHUNK_ELEMENTS // per_channel)
    parts = []
    for start in range(0, b * c, step):  # chunks of channels only bound the memory of large batches
        spectrum = torch.fft.rfft2(ext[start : start + step])  # [n, 1, 2H, W + 1]
        blurred = torch.fft.irfft2(spectrum * transfer, s=(2 * h, 2 * w))
        parts.append(blurred[..., :h, :w])
    return torch.cat(parts, dim=0).reshape(b, c, len(sigmas), h, w)


def multiscale_retinex(v: torch.Tensor, sigmas: Sequence[float]) -> torch.Tensor:
    """MSR of a positive batch ``v`` ``[B, C, H, W]`` (values >= 1): ``log v - mean_n log(G_n * v)``."""
    # A Gaussian mean of values >= 1 is >= 1; the clamp only removes FFT rounding.
    surround = gaussian_surrounds(v, sigmas).clamp_(min=1.0).log_().mean(dim=2)
    return v.log() - surround


def simplest_color_balance(
    r: torch.Tensor, low_clip: float, high_clip: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Simplest colour balance of every channel of ``r`` ``[B, C, H, W]`` (any real values).

    Saturates ``low_clip`` % of the values at the bottom and ``high_clip`` % at the top (IPOL's
    order statistics, see the module docstring) and stretches the rest to [0, 1]. Returns the
    result and ``flat`` ``[B, C, 1, 1]`` bool: channels whose range is at most ``1e-4``, where the
    result is meaningless (set to 0 here) and the caller keeps its input instead.
    """
    b, c, h, w = r.shape
    n = h * w
    i_low = int(low_clip * n / 100.0)
    i_high = n - 1 - int(high_clip * n / 100.0)
    flat_r = r.reshape(b, c, n)
    if r.device.type == "cpu":  # selection is several times faster than a full sort on the CPU
        lo = flat_r.kthvalue(i_low + 1, dim=-1).values.view(b, c, 1, 1)
        hi = flat_r.kthvalue(i_high + 1, dim=-1).values.view(b, c, 1, 1)
    else:  # one device sort (no host sync); GPU selection kernels are slow on single large rows
        ordered = torch.sort(flat_r, dim=-1).values
        lo = ordered[..., i_low].view(b, c, 1, 1)
        hi = ordered[..., i_high].view(b, c, 1, 1)
    span = hi - lo
    flat = span <= _FLAT_RANGE
    out = ((r - lo) / torch.where(flat, torch.ones_like(span), span)).clamp_(0.0, 1.0)
    return out.masked_fill_(flat, 0.0), flat


def _constant(x: torch.Tensor) -> torch.Tensor:
    """``[B, C, 1, 1]`` bool: channels with a single value."""
    flat = x.flatten(2)
    return (flat.amax(dim=-1) == flat.amin(dim=-1)).view(x.shape[0], x.shape[1], 1, 1)


def retinex(
    x: torch.Tensor,
    *,
    method: str = "msrcp",
    scales: Sequence[float] = DEFAULT_SCALES,
    scale_unit: str = "pixels",
    low_clip: float = 1.0,
    high_clip: float = 1.0,
    max_gain: float | None = None,
    strength: float = 1.0,
    return_info: bool = False,
    progress: ProgressCallback | None = None,
) -> torch.Tensor | tuple[torch.Tensor, RetinexInfo]:
    """Multiscale Retinex (IPOL 2014) of a batch ``x`` ``[B, C, H, W]`` (C = 1 or 3, sRGB in [0, 1]).

    Args:
        method: ``"msrcp"`` (MSR on the intensity, colour ratios kept: natural colours, the
            default), ``"msrcr"`` (MSR per channel with Jobson's colour restoration) or ``"msr"``
            (MSR per channel). See the module docstring for the formulas.
        scales: Gaussian surround standard deviations (1 to 8 of them), in pixels or, with
            ``scale_unit="relative"``, in thousandths of the image's longer side. Default
            15, 80, 250 (Jobson's and IPOL's).
        scale_unit: ``"pixels"`` or ``"relative"`` (resolution independent: the same look on a
            4K image as on a 1000-pixel one).
        low_clip, high_clip: simplest colour balance saturation, in percent of the pixels of a
            channel (MSR, MSRCR) or of the intensity (MSRCP) sent to black / to white; each in
            [0, 50). IPOL's default 1 % / 1 %.
        max_gain: MSRCP only: largest per-pixel amplification ``A``; None = no limit beyond
            keeping every channel <= 1 (the paper's formula). The IPOL demo code uses 3, which
            tames noise in very dark regions but brightens dark images less.
        strength: blend with the input, 0 (unchanged) to 1 (full Retinex).
        return_info: also return a :class:`RetinexInfo`.
        progress: optional callback, called with (done, total) images.

    Returns:
        The enhanced batch, same shape, dtype and device as ``x``, in [0, 1] (and the info when
        ``return_info``). Channels or images with nothing to stretch are returned unchanged.
    """
    check_image(x, "image")
    _check_params(method, low_clip, high_clip, max_gain, strength)
    b, c, h, w = x.shape
    sigmas = retinex_scales(scales, scale_unit, h, w)
    report(progress, 0, b)
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    xf = x.to(work)
    v = xf * 255.0 + 1.0

    if method == "msrcp":
        intensity = v.mean(dim=1, keepdim=True)
        balanced, flat = simplest_color_balance(multiscale_retinex(intensity, sigmas), low_clip, high_clip)
        flat = flat | _constant(intensity)
        gain = torch.minimum(balanced * 255.0 / intensity, 255.0 / v.amax(dim=1, keepdim=True))
        if max_gain is not None:
            gain = gain.clamp_(max=float(max_gain))
        out = (gain * v / 255.0).clamp_(0.0, 1.0)
        out = torch.where(flat, xf, out)
        unchanged = flat.view(b)
    else:
        r = multiscale_retinex(v, sigmas)
        if method == "msrcr":
            r = r * (BETA * (torch.log(ALPHA * v) - torch.log(v.sum(dim=1, keepdim=True))))
        out, flat = simplest_color_balance(r, low_clip, high_clip)
        flat = flat | _constant(v)
        out = torch.where(flat, xf, out)
        unchanged = flat.view(b, c).all(dim=1)

    if strength < 1.0:
        out = torch.lerp(xf, out, float(strength))
    out = out.to(x.dtype)
    report(progress, b, b)
    if return_info:
        return out, RetinexInfo(method, sigmas, float(low_clip), float(high_clip), unchanged)
    return out
