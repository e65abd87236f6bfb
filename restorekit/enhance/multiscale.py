"""Multiscale detail: separate gains for fine, medium and coarse detail and for the base layer.

The image (by default its Oklab lightness) is split into four scale bands by structure size
(the period of the pattern, in pixels):

- fine:   periods below ``s1``,
- medium: ``s1`` to ``s2 = s1 * ratio``,
- coarse: ``s2`` to ``s3 = s2 * ratio``,
- base:   above ``s3`` (the illumination; its gain scales it about the image mean, so mean
  brightness is kept).

``s1`` is given either as a percentage of the image's longer side (default, ``size_units="percent"``:
the same bands hold the same structures at any resolution, what 4K users want) or in pixels; it is
never below 4 px (periods under 4 px are the finest an image holds, so the fine band always has
something in it). The default 0.5 % gives ``s1 = 4, 16, 64`` px for images up to 800 px and
``19, 77, 307`` px for a 3840 px wide 4K frame.

Two ways to split, both exactly invertible (unit gains return the input exactly, since the result
is ``x + sum_k (g_k - 1) band_k``):

- ``"laplacian"``: the Laplacian pyramid (:mod:`restorekit.enhance.pyramid`). Its octave level ``k``
  (periods ``2^(k+1)``-``2^(k+2)`` px) takes the gain of the band its centre period
  ``2^(k+1.5)`` px falls in; the pyramid is deep enough for its residual to lie above ``s3``.
- ``"fft"``: smooth radial masks over the mirrored image's spectrum with cutoffs ``1/s1, 1/s2,
  1/s3`` cycles/px (:mod:`restorekit.enhance.bands`), one FFT pair.

Halo limiting (``halo_limit > 0``): boosting a band overshoots at strong edges (halos). With a
limit ``t`` a boosted band's detail ``d`` becomes ``d + (g - 1) d / (1 + (d / t)^2)``: weak detail
gets the full gain, detail much stronger than ``t`` (edges) almost none. The curve is monotone for
gains up to 9, so it never reverses an edge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..color import luma, oklab_to_rgb, rgb_to_oklab
from ..errors import InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report
from .bands import fft_band_masks, fft_filter, mirror_extend
from .pyramid import collapse_laplacian_pyramid, laplacian_pyramid, max_levels

METHODS = ("laplacian", "fft")
SIZE_UNITS = ("percent", "pixels")
COLOR_MODES = ("oklab", "luma", "rgb")
BAND_NAMES = ("fine", "medium", "coarse", "base")
MAX_GAIN = 4.0
MIN_FINE_PX = 4.0
MAX_FINE_PERCENT = 25.0
MAX_FINE_PX = 4096.0


@dataclass(frozen=True)
class MultiscaleInfo:
    """What :func:`multiscale_detail` used.

    ``sizes_px``: the band boundaries ``(s1, s2, s3)`` in pixels; ``size_raised``: ``s1`` was below
    4 px and was raised to 4; ``gains``: fine, medium, coarse, base; ``level_bands``: for the
    Laplacian method, the band each pyramid level was given to (finest level first, then the
    residual), empty for FFT; ``clipped``: per image, the fraction of output values that fell
    outside [0, 1] and were clamped; ``clipped_by``: per image, how far outside those values were
    on average, in [0, 1] units (0 when none was).
    """

    method: str
    color: str
    sizes_px: tuple[float, float, float]
    size_raised: bool
    gains: tuple[float, float, float, float]
    level_bands: tuple[str, ...]
    clipped: tuple[float, ...]
    clipped_by: tuple[float, ...] = ()


def _number(name: str, value: object, lo: float, hi: float, hint: str, *, open_low: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if ok:
        ok = (lo < value if open_low else lo <= value) and value <= hi
    if not ok:
        bracket = "(" if open_low else "["
        raise InvalidParameterError(name, f"expected a number in {bracket}{lo:g}, {hi:g}], got {value!r}.", hint)
    return float(value)


def band_sizes(h: int, w: int, band_size: float, size_units: str, band_ratio: float) -> tuple[tuple[float, ...], bool]:
    """Band boundaries ``(s1, s2, s3)`` in px for an ``h x w`` image, and whether ``s1`` was raised to 4 px."""
    s1 = band_size / 100.0 * max(h, w) if size_units == "percent" else band_size
    raised = s1 < MIN_FINE_PX
    s1 = max(s1, MIN_FINE_PX)
    return (s1, s1 * band_ratio, s1 * band_ratio**2), raised


def _limit(d: torch.Tensor, gain: float, limit: float) -> torch.Tensor:
    """The change ``(gain - 1) d``, for boosts faded out where ``|d|`` exceeds ``limit`` (see module doc)."""
    if limit > 0 and gain > 1:
        return d * ((gain - 1.0) / (1.0 + (d / limit).square()))
    return d * (gain - 1.0)


def _level_bands(levels: int, sizes: tuple[float, ...]) -> list[int]:
    """Band index (0 fine .. 3 base) of each pyramid level by its centre period ``2^(k+1.5)`` px."""
    out = []
    for k in range(levels):
        period = 2.0 ** (k + 1.5)
        out.append(sum(period >= s for s in sizes))
    return out


def _delta_laplacian(
    v: torch.Tensor, gains: tuple[float, ...], sizes: tuple[float, ...], limit: float
) -> tuple[torch.Tensor, list[int]]:
    # Deep enough that the residual holds only periods above s3 (2^(L+1) >= s3).
    levels = min(max(1, math.ceil(math.log2(sizes[2])) - 1), max_levels(*v.shape[-2:]))
    pyr = laplacian_pyramid(v, levels)
    which = _level_bands(len(pyr) - 1, sizes)
    deltas = [_limit(band, gains[i], limit) for band, i in zip(pyr[:-1], which, strict=True)]
    residual = pyr[-1]
    deltas.append((residual - residual.mean(dim=(-2, -1), keepdim=True)) * (gains[3] - 1.0))
    delta = collapse_laplacian_pyramid(deltas)
    # Expanded pyramid levels are not exactly zero-mean near borders: keep the mean exactly.
    return delta - delta.mean(dim=(-2, -1), keepdim=True), [*which, 3]


def _delta_fft(v: torch.Tensor, gains: tuple[float, ...], sizes: tuple[float, ...], limit: float) -> torch.Tensor:
    h, w = v.shape[-2:]
    masks = fft_band_masks(h, w, [1.0 / s for s in sizes], device=v.device, dtype=v.dtype)
    # Bands whose change is linear (all of them without halo limiting) share one combined response;
    # a halo-limited boosted band is not linear and is brought back on its own (one inverse FFT each).
    limited = [k for k in range(3) if limit > 0 and gains[k] > 1]
    linear = [0.0 if k in limited else g - 1.0 for k, g in enumerate(gains)]
    response = torch.tensordot(torch.tensor(linear, device=v.device, dtype=v.dtype), masks, dims=1)
    response[0, 0] = 0.0  # the DC (the image mean) is kept
    if not limited:
        return fft_filter(v, response)
    spectrum = torch.fft.rfft2(mirror_extend(v))
    size = (2 * h, 2 * w)
    delta = torch.fft.irfft2(spectrum * response, s=size)[..., :h, :w]
    for k in limited:
        band = torch.fft.irfft2(spectrum * masks[k], s=size)[..., :h, :w]
        delta = delta + _limit(band, gains[k], limit)
    return delta


def multiscale_detail(
    x: torch.Tensor,
    *,
    fine_gain: float = 1.5,
    medium_gain: float = 1.25,
    coarse_gain: float = 1.0,
    base_gain: float = 1.0,
    method: str = "laplacian",
    band_size: float = 0.5,
    size_units: str = "percent",
    band_ratio: float = 4.0,
    color: str = "oklab",
    halo_limit: float = 0.0,
    clamp: bool = True,
    return_info: bool = False,
    progress: ProgressCallback | None = None,
) -> torch.Tensor | tuple[torch.Tensor, MultiscaleInfo]:
    """Scale fine, medium and coarse detail and the base layer of each image of ``x`` ``[B, C, H, W]``.

    Args:
        x: images in [0, 1], C = 1 or 3 (sRGB), any size.
        fine_gain, medium_gain, coarse_gain: gains of the detail bands (see the module docstring for
            their sizes), in [0, 4]: 1 = unchanged, > 1 boosts, < 1 softens, 0 removes the band.
        base_gain: gain of the base layer (structures above ``s3``) about the image mean, [0, 4]:
            < 1 flattens the lighting, > 1 deepens it; mean brightness is kept.
        method: ``"laplacian"`` (pyramid) or ``"fft"`` (smooth radial masks).
        band_size: the upper size ``s1`` of the fine band, in ``size_units``: percent of the longer
            image side (0 < value <= 25, default 0.5) or pixels (4..4096). Raised to 4 px if smaller.
        band_ratio: size ratio between consecutive bands (``s2 = ratio s1``, ``s3 = ratio s2``), 2..8.
        color: for RGB: ``"oklab"`` = change Oklab lightness only (colour kept), ``"luma"`` = add the
            BT.601 luma change to R, G and B alike, ``"rgb"`` = every channel on its own. Gray images
            are processed directly.
        halo_limit: 0 = off; else detail stronger than this (same units as the image, [0, 1]) is
            boosted less, which prevents halos at strong edges. Typical 0.05-0.2.
        clamp: clip the result to [0, 1] (default).
        return_info: also return a :class:`MultiscaleInfo`.
        progress: optional callback, called with (done, total) steps.

    Returns:
        The result, same shape, dtype and device as ``x`` (and the info when asked). At unit gains
        exactly ``x``. Per image.
    """
    check_image(x, "image")
    hint = "1 = unchanged, above 1 boosts, below 1 softens."
    gains = tuple(
        _number(n, v, 0.0, MAX_GAIN, hint)
        for n, v in (("fine_gain", fine_gain), ("medium_gain", medium_gain), ("coarse_gain", coarse_gain),
                     ("base_gain", base_gain))
    )
    if method not in METHODS:
        raise InvalidParameterError("method", f"{method!r} is not a method.", f"choose one of: {', '.join(METHODS)}.")
    if size_units not in SIZE_UNITS:
        raise InvalidParameterError(
            "size_units", f"{size_units!r} is not a unit.", f"choose one of: {', '.join(SIZE_UNITS)}."
        )
    if size_units == "percent":
        band_size = _number("band_size", band_size, 0.0, MAX_FINE_PERCENT, "give e.g. 0.5 (% of the longer side).",
                            open_low=True)
    else:
        band_size = _number("band_size", band_size, 0.0, MAX_FINE_PX, "give e.g. 4 (pixels).", open_low=True)
    band_ratio = _number("band_ratio", band_ratio, 2.0, 8.0, "give e.g. 4.")
    if color not in COLOR_MODES:
        raise InvalidParameterError("color", f"{color!r} is not a mode.", f"choose one of: {', '.join(COLOR_MODES)}.")
    halo_limit = _number("halo_limit", halo_limit, 0.0, 1.0, "give 0 (off) or e.g. 0.1.")
    report(progress, 0, 1)

    h, w = x.shape[-2:]
    sizes, raised = band_sizes(h, w, band_size, size_units, band_ratio)
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    xw = x.to(work)
    mode = color if x.shape[1] == 3 else "rgb"
    lab = None
    if mode == "oklab":
        lab = rgb_to_oklab(xw)
        target = lab[:, :1]
    elif mode == "luma":
        target = luma(xw)
    else:
        target = xw

    if method == "laplacian":
        delta, which = _delta_laplacian(target, gains, sizes, halo_limit)
    else:
        delta, which = _delta_fft(target, gains, sizes, halo_limit), []

    if lab is not None:
        # x + (rgb(L + dL) - rgb(L)): exact at unit gains although the Oklab round trip is not.
        # (Two calls on tensors of one layout: a batched call may round batch halves differently.)
        changed = oklab_to_rgb(torch.cat([lab[:, :1] + delta, lab[:, 1:]], dim=1))
        out = xw + (changed - oklab_to_rgb(torch.cat([lab[:, :1], lab[:, 1:]], dim=1)))
    else:
        out = xw + delta  # a luma change broadcasts to R, G and B
    clipped: tuple[float, ...] = ()
    clipped_by: tuple[float, ...] = ()
    if return_info:
        excess = (out - 1).clamp(min=0) + (-out).clamp(min=0)
        count = (excess > 0).to(work).sum(dim=(1, 2, 3))
        clipped = tuple((count / excess[0].numel()).tolist())
        clipped_by = tuple((excess.sum(dim=(1, 2, 3)) / count.clamp(min=1)).tolist())
    if clamp:
        out = out.clamp(0.0, 1.0)
    report(progress, 1, 1)
    out = out.to(x.dtype)
    if not return_info:
        return out
    info = MultiscaleInfo(
        method=method,
        color=mode if x.shape[1] == 3 else "gray",
        sizes_px=tuple(sizes),
        size_raised=raised,
        gains=gains,
        level_bands=tuple(BAND_NAMES[i] for i in which),
        clipped=clipped,
        clipped_by=clipped_by,
    )
    return out, info
