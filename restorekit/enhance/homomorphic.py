"""Homomorphic filtering: compress illumination, boost reflectance detail, in the log domain.

An image is modelled as illumination times reflectance, ``v = i r``; the logarithm turns the
product into a sum, ``log v = log i + log r``, in which the slowly varying illumination sits at
low frequencies and the reflectance detail at high ones. The log image is filtered with the
Gaussian high-emphasis transfer (Gonzalez & Woods, *Digital Image Processing*, 4.9.6)

    H(D) = (gamma_high - gamma_low) (1 - exp(-D^2 / (2 D0^2))) + gamma_low

and exponentiated: ``gamma_low < 1`` compresses the illumination range (lifts shadows, tames
highlights), ``gamma_high > 1`` strengthens detail. The cutoff ``D0`` is given relative to the
image size (cycles per image across its longer side), so the same photo at half the size gets
the half-size result; ``cutoff_mode="absolute"`` keeps it fixed in pixels instead.

Colour: by default only luminance is filtered (BT.601 luma Y); R, G and B are then multiplied by
the same factor ``(Y' + e) / (Y + e)``, which keeps each pixel's chromaticity (hue and
saturation) — the multiplicative model the filter itself assumes. ``per_channel=True`` filters
R, G and B independently (can shift colours, e.g. correct a colour cast of the illumination).

The mean brightness (of luma, or of each channel with ``per_channel``) is restored after the
filter by one gain per image, refined for clipping (:func:`restorekit.enhance.spectral.restore_mean`),
so the drift is far below 1/255. The FFT runs once over a mirror-padded image (no wrap-around
from the opposite border).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..color import luma
from ..errors import InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report
from .spectral import (
    brightness,
    drift_grey,
    gaussian_lowpass,
    gaussian_sigma_px,
    mirror_pad_for_fft,
    radial_frequency,
    restore_mean,
)

CUTOFF_MODES = ("relative", "absolute")
#: In ``absolute`` mode the cutoff is in cycles per this many pixels (the cutoff it would have,
#: in relative mode, on an image whose longer side is this long).
ABSOLUTE_REFERENCE_PX = 1024
#: Offset added before the logarithm (0-1 units): keeps near-black pixels (and their noise) from
#: reaching log 0, where the log domain would amplify them without bound.
LOG_OFFSET = 0.01


@dataclass(frozen=True)
class HomomorphicInfo:
    """What :func:`homomorphic_filter` did. Per-image lists have one entry per batch image."""

    gamma_low: float
    gamma_high: float
    cutoff_cycles_per_px: float
    cutoff_cycles_per_image: float
    brightness_gain: list[float]  # gain that restored the mean brightness (mean over channels)
    drift: list[float]  # remaining mean-brightness change, 0-255 grey levels


def _number(v: object) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def _check(cutoff: float, gamma_low: float, gamma_high: float, cutoff_mode: str, per_channel: bool,
           strength: float) -> None:
    if not _number(cutoff) or not 0.1 <= cutoff <= 1000:
        raise InvalidParameterError(
            "cutoff", f"expected a number of cycles in [0.1, 1000], got {cutoff!r}.",
            "give e.g. 8 (detail finer than 1/8 of the image counts as reflectance).",
        )
    for name, value in (("gamma_low", gamma_low), ("gamma_high", gamma_high)):
        if not _number(value) or not 0 <= value <= 10:
            raise InvalidParameterError(name, f"expected a number in [0, 10], got {value!r}.",
                                        "give e.g. gamma_low 0.5 and gamma_high 1.5.")
    if cutoff_mode not in CUTOFF_MODES:
        raise InvalidParameterError("cutoff_mode", f"{cutoff_mode!r} is not supported.",
                                    f"choose one of: {', '.join(CUTOFF_MODES)}.")
    if not isinstance(per_channel, bool):
        raise InvalidParameterError("per_channel", f"expected true/false, got {per_channel!r}.", None)
    if not _number(strength) or not 0 <= strength <= 1:
        raise InvalidParameterError("strength", f"expected a number in [0, 1], got {strength!r}.", "give e.g. 1.0.")


def _scale_rgb(x: torch.Tensor, y: torch.Tensor, filtered: torch.Tensor, target: torch.Tensor,
               iterations: int = 8) -> torch.Tensor:
    """RGB ``x`` with luma ``y`` scaled to the filtered luma: ``(x + e) f - e``, ``f = k (Y' + e) / (y + e)``.

    ``f`` is capped where the largest channel would pass 1, so clipping never changes a pixel's
    hue (it gets less gain instead), and the per-image ``k`` is found by the fixed-point iteration of
    :func:`restorekit.enhance.spectral.restore_mean` (the mean luma grows monotonically with ``k``).
    """
    e = LOG_OFFSET
    base = x + e
    ratio = filtered / (y + e)
    cap = (1.0 + e) / base.amax(dim=1, keepdim=True)
    t = target + e
    luma_base = y + e  # luma((x + e) f) = (y + e) f: the iteration needs one channel only
    k = t / brightness(luma_base * ratio, False)
    for _ in range(iterations):
        k = k * t / brightness(luma_base * torch.minimum(ratio * k, cap), False)
    return (base * torch.minimum(ratio * k, cap) - e).clamp(0.0, 1.0)


def homomorphic_filter(
    x: torch.Tensor,
    *,
    cutoff: float = 8.0,
    gamma_low: float = 0.6,
    gamma_high: float = 1.4,
    cutoff_mode: str = "relative",
    per_channel: bool = False,
    strength: float = 1.0,
    return_info: bool = False,
    progress: ProgressCallback | None = None,
) -> torch.Tensor | tuple[torch.Tensor, HomomorphicInfo]:
    """Homomorphic filter of a batch ``x`` ``[B, C, H, W]`` (C = 1 or 3, values in [0, 1]).

    Computes ``exp(F^-1[H . F[log(v + e)]]) - e`` on luma (or each channel), with the Gaussian
    high-emphasis ``H`` of the module docstring, then restores the mean brightness.

    Args:
        cutoff: ``D0``, the frequency where illumination gives way to reflectance. In
            ``relative`` mode in cycles per image across its longer side (8 = structures
            larger than about 1/8 of the image are illumination); in ``absolute`` mode in cycles
            per 1024 pixels (fixed in pixels whatever the image size). Range 0.1-1000.
        gamma_low: gain on the log of the illumination (low frequencies), 0-10; < 1 compresses
            the brightness range, 1 leaves it.
        gamma_high: gain on the log of the reflectance (high frequencies), 0-10; > 1 boosts detail.
        cutoff_mode: ``relative`` (resolution independent) or ``absolute``.
        per_channel: filter R, G, B separately instead of luminance only (RGB only).
        strength: blend with the input, 0 = unchanged, 1 = full effect.
        return_info: also return a :class:`HomomorphicInfo`.
        progress: optional callback ``(done, total)`` in images.

    Returns:
        The filtered batch in [0, 1], same shape, dtype and device (and the info if asked).
    """
    check_image(x, "image")
    _check(cutoff, gamma_low, gamma_high, cutoff_mode, per_channel, strength)
    b, c, h, w = x.shape
    report(progress, 0, b)
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    xf = x.to(work)
    by_channel = per_channel or c == 1
    v = xf if by_channel else luma(xf)

    length = max(h, w) if cutoff_mode == "relative" else ABSOLUTE_REFERENCE_PX
    d0 = float(cutoff) / length  # cycles per pixel
    sigma_px = gaussian_sigma_px(d0)
    # The low-pass part of H reaches about 3 sigma; past that the mirrored border cannot wrap in.
    margin_h = min(math.ceil(3.0 * sigma_px), 2 * h) if h > 1 else 0
    margin_w = min(math.ceil(3.0 * sigma_px), 2 * w) if w > 1 else 0

    z = torch.log(v + LOG_OFFSET)
    zp, (top, left) = mirror_pad_for_fft(z, margin_h, margin_w)
    hp, wp = zp.shape[-2:]
    d = radial_frequency(hp, wp, device=x.device, dtype=work)
    transfer = (gamma_high - gamma_low) * (1.0 - gaussian_lowpass(d, d0)) + gamma_low
    zf = torch.fft.irfft2(torch.fft.rfft2(zp) * transfer, s=(hp, wp))[..., top : top + h, left : left + w]
    filtered = torch.exp(zf)  # = v' + e

    target = brightness(xf, by_channel)
    # The brightness correction scales v' + e: a constant shift of the filtered log image (its DC term).
    gain_free = (target + LOG_OFFSET) / brightness(filtered, True)
    if by_channel:
        out = restore_mean(filtered - LOG_OFFSET, target, per_channel=True, multiplicative=True, offset=LOG_OFFSET,
                           iterations=8)
    else:
        out = _scale_rgb(xf, v, filtered, target)
    if strength < 1:
        out = xf + float(strength) * (out - xf)
    report(progress, b, b)
    out = out.to(x.dtype)
    if not return_info:
        return out
    info = HomomorphicInfo(
        gamma_low=float(gamma_low),
        gamma_high=float(gamma_high),
        cutoff_cycles_per_px=d0,
        cutoff_cycles_per_image=d0 * max(h, w),
        brightness_gain=gain_free.flatten(1).mean(dim=1).tolist(),
        drift=drift_grey(out.to(work), xf, by_channel).tolist(),
    )
    return out, info
