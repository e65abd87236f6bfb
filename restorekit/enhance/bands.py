"""Frequency bands: split an image into N bands that add up to it, weight each band, recombine.

Two ways to split, both linear and exactly invertible:

- ``"fft"``: the spectrum is cut by smooth radial masks that form a partition of unity (they add up
  to 1 at every frequency). The cutoffs are octaves, ``0.25, 0.125, ... cycles/px`` (periods of 4, 8,
  16 ... px), the same split as the Laplacian pyramid's levels, and each transition is a raised
  cosine one octave wide in log-frequency, so bands overlap smoothly and a gain does not ring. The
  image is mirrored to twice its size before the FFT (``a b c | c b a``), which makes the filter
  act as on a cosine transform: no wrap-around seams at the borders.
- ``"laplacian"``: the Laplacian pyramid of :mod:`restorekit.enhance.pyramid` (5-tap binomial
  kernel, mirrored borders); band ``k`` is its level ``k``, the last band its low-pass residual.

Band 0 is the finest (periods of about 2-4 px), the last band the coarse residual. The gain of the
last band scales the residual about its mean: the image mean (DC) itself is never changed, so
brightness is kept. The result is computed as ``x + sum_k (g_k - 1) band_k``, so unit gains return
the input exactly and gains near 1 lose no precision.

Cost: the FFT path is one ``rfft2``/``irfft2`` pair on the mirrored batch with one combined mask
(the per-band masks are built once per image size and cached); the pyramid path is two
convolutions per level.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from functools import lru_cache

import torch
import torch.nn.functional as F

from ..errors import InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report
from .pyramid import collapse_laplacian_pyramid, expand_to, laplacian_pyramid

METHODS = ("fft", "laplacian")
MIN_BANDS = 2
MAX_BANDS = 8
MAX_GAIN = 10.0
#: Width of each transition between two bands, in octaves of frequency.
TRANSITION_OCTAVES = 1.0


def _work_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def octave_cutoffs(bands: int) -> list[float]:
    """The ``bands - 1`` cutoff frequencies (cycles/px) between ``bands`` octave bands, finest first."""
    return [0.25 / 2**k for k in range(bands - 1)]


def _lowpass(r: torch.Tensor, cutoff: float, width: float) -> torch.Tensor:
    """1 below ``cutoff`` and 0 above, with a raised-cosine transition ``width`` octaves wide in log2(r)."""
    t = torch.log2(r.clamp(min=1e-12) / cutoff) / width
    return torch.where(t <= -0.5, 1.0, torch.where(t >= 0.5, 0.0, 0.5 - 0.5 * torch.sin(math.pi * t)))


@lru_cache(maxsize=4)
def _masks_cached(
    h: int, w: int, cutoffs: tuple[float, ...], width: float, device: str, dtype: torch.dtype
) -> torch.Tensor:
    with torch.inference_mode(False):  # cached for later calls, whatever mode built it
        fy = torch.fft.fftfreq(2 * h, dtype=torch.float64)
        fx = torch.fft.rfftfreq(2 * w, dtype=torch.float64)
        r = torch.sqrt(fy.view(-1, 1) ** 2 + fx.view(1, -1) ** 2)
        low = [torch.ones_like(r)] + [_lowpass(r, c, width) for c in cutoffs] + [torch.zeros_like(r)]
        masks = torch.stack([low[k] - low[k + 1] for k in range(len(cutoffs) + 1)])
        return masks.to(device=device, dtype=dtype)


def fft_band_masks(
    h: int,
    w: int,
    cutoffs: Sequence[float],
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    width: float = TRANSITION_OCTAVES,
) -> torch.Tensor:
    """Radial band masks ``[len(cutoffs) + 1, 2 h, w + 1]`` for the ``rfft2`` of an ``h x w`` image mirrored
    to ``2h x 2w`` (see :func:`fft_filter`).

    ``cutoffs`` are decreasing frequencies in cycles/px (0.5 = Nyquist); mask 0 passes what lies above
    the first cutoff, mask ``k`` what lies between cutoffs ``k - 1`` and ``k``, the last one what lies
    below the last cutoff (the DC included). Every mask is in [0, 1] and they add up to 1 (up to
    rounding). Built in float64 and cached per size, cutoffs, device and dtype (the last 4 kept:
    N masks of a 1080p image take N x 16 MiB in float32).
    """
    cut = tuple(float(c) for c in cutoffs)
    if any(not c > 0 for c in cut) or any(a <= b for a, b in zip(cut, cut[1:], strict=False)):
        raise InvalidParameterError("cutoffs", f"expected decreasing positive frequencies, got {cut}.", None)
    return _masks_cached(int(h), int(w), cut, float(width), str(torch.device(device)), dtype)


def mirror_extend(x: torch.Tensor) -> torch.Tensor:
    """``x`` ``[..., H, W]`` mirrored to ``[..., 2H, 2W]`` (``a b c | c b a`` on both axes): periodic and seamless."""
    xe = torch.cat([x, x.flip(-1)], dim=-1)
    return torch.cat([xe, xe.flip(-2)], dim=-2)


def fft_filter(x: torch.Tensor, response: torch.Tensor) -> torch.Tensor:
    """``x`` filtered by a real frequency ``response`` ``[2H, W + 1]`` (or ``[B, C, 2H, W + 1]``) applied
    to the spectrum of ``x`` mirrored to ``2H x 2W``; returns ``[B, C, H, W]`` in the work dtype."""
    h, w = x.shape[-2:]
    spectrum = torch.fft.rfft2(mirror_extend(x))
    return torch.fft.irfft2(spectrum * response, s=(2 * h, 2 * w))[..., :h, :w]


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise InvalidParameterError("method", f"{method!r} is not a method.", f"choose one of: {', '.join(METHODS)}.")


def _check_bands(bands: int) -> None:
    if isinstance(bands, bool) or not isinstance(bands, int) or not MIN_BANDS <= bands <= MAX_BANDS:
        raise InvalidParameterError(
            "bands", f"expected a whole number in {MIN_BANDS}..{MAX_BANDS}, got {bands!r}.", "give e.g. 4."
        )


def check_gains(gains: Sequence[float], name: str = "gains") -> list[float]:
    """Validate band gains: 2-8 finite numbers in [0, 10]; returns them as floats."""
    try:
        values = [float(g) for g in gains]
        ok = all(not isinstance(g, bool) for g in gains)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InvalidParameterError(name, f"expected a list of numbers, got {gains!r}.", "give e.g. [1.5, 1.2, 1, 1].")
    if not MIN_BANDS <= len(values) <= MAX_BANDS:
        raise InvalidParameterError(
            name, f"expected {MIN_BANDS} to {MAX_BANDS} gains (one per band), got {len(values)}.",
            "give one gain per band, finest first, e.g. 1.5, 1.2, 1, 1.",
        )
    bad = [g for g in values if not (math.isfinite(g) and 0.0 <= g <= MAX_GAIN)]
    if bad:
        raise InvalidParameterError(
            name, f"gains must be in [0, {MAX_GAIN:g}], got {bad}.", "1 = unchanged, above 1 boosts, below 1 softens."
        )
    return values


def parse_gains(text: str, bands: int) -> list[float]:
    """Gains from text such as ``"1.5, 1.2, 1"`` (commas or spaces), finest band first.

    Fewer values than ``bands``: the last value is repeated; more is an error.
    """
    _check_bands(bands)
    parts = [p for p in text.replace(",", " ").replace(";", " ").split() if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise InvalidParameterError(
            "gains", f"cannot read {text!r} as numbers.", "write gains separated by commas, e.g. 1.5, 1.2, 1, 1."
        ) from None
    if not values:
        raise InvalidParameterError("gains", "no gains given.", "write e.g. 1.5, 1.2, 1, 1.")
    if len(values) > bands:
        raise InvalidParameterError(
            "gains", f"{len(values)} gains given for {bands} bands.", f"give at most {bands} values or more bands."
        )
    return check_gains(values + [values[-1]] * (bands - len(values)))


def interpolate_gains(bands: int, fine_gain: float, coarse_gain: float) -> list[float]:
    """``bands`` gains going linearly from ``fine_gain`` (band 0) to ``coarse_gain`` (the residual)."""
    _check_bands(bands)
    for name, g in (("fine_gain", fine_gain), ("coarse_gain", coarse_gain)):
        if isinstance(g, bool) or not isinstance(g, (int, float)) or not (math.isfinite(g) and 0 <= g <= MAX_GAIN):
            raise InvalidParameterError(name, f"expected a number in [0, {MAX_GAIN:g}], got {g!r}.", "give e.g. 1.5.")
    return [fine_gain + (coarse_gain - fine_gain) * k / (bands - 1) for k in range(bands)]


def _fft_response(masks: torch.Tensor, gains: Sequence[float]) -> torch.Tensor:
    """``sum_k (g_k - 1) mask_k``, the last mask without the DC (the mean is kept)."""
    delta = torch.tensor([g - 1.0 for g in gains], device=masks.device, dtype=masks.dtype)
    response = torch.tensordot(delta, masks, dims=1)
    response[0, 0] = 0.0  # the DC of the mirrored image is the image mean: only the residual has it
    return response


def _pyramid_delta(xw: torch.Tensor, gains: Sequence[float], levels: int) -> torch.Tensor:
    """``sum_k (g_k - 1) band_k`` through the pyramid, the residual scaled about its mean."""
    pyr = laplacian_pyramid(xw, levels)  # fewer levels than asked on small images
    deltas = [band * (gains[k] - 1.0) for k, band in enumerate(pyr[:-1])]
    residual = pyr[-1]
    deltas.append((residual - residual.mean(dim=(-2, -1), keepdim=True)) * (gains[-1] - 1.0))
    delta = collapse_laplacian_pyramid(deltas)
    # Expanded pyramid levels are not exactly zero-mean near borders: keep the mean exactly.
    return delta - delta.mean(dim=(-2, -1), keepdim=True)


def frequency_bands(
    x: torch.Tensor,
    *,
    gains: Sequence[float] = (1.5, 1.25, 1.0, 1.0),
    method: str = "fft",
    clamp: bool = True,
    progress: ProgressCallback | None = None,
) -> torch.Tensor:
    """Split each image of ``x`` ``[B, C, H, W]`` into ``len(gains)`` frequency bands, scale band ``k`` by
    ``gains[k]`` and add them back: ``x + sum_k (gains[k] - 1) band_k``.

    Args:
        x: images in [0, 1], C = 1 or 3 (every channel is treated alike), any size.
        gains: 2 to 8 gains in [0, 10], finest band first; the last one is the low-pass residual,
            scaled about the image mean (mean brightness is kept). 1 = unchanged, > 1 boosts the band,
            < 1 softens it, 0 removes it. Bands are octaves: band ``k < N - 1`` holds periods of about
            ``2^(k+1)``-``2^(k+2)`` px (band 0: 2-4 px), the residual everything coarser.
        method: ``"fft"`` (smooth radial masks, a partition of unity) or ``"laplacian"`` (pyramid). On
            images too small for the pyramid's levels the coarsest bands do not exist and the residual
            (scaled by the last gain) holds what is left.
        clamp: clip the result to [0, 1] (default).
        progress: optional callback, called with (done, total) steps.

    Returns:
        Same shape, dtype and device as ``x``; at unit gains exactly ``x``. Per image.
    """
    check_image(x, "image")
    values = check_gains(gains)
    _check_method(method)
    report(progress, 0, 1)
    work = _work_dtype(x)
    xw = x.to(work)
    h, w = x.shape[-2:]
    if method == "fft":
        masks = fft_band_masks(h, w, octave_cutoffs(len(values)), device=x.device, dtype=work)
        out = xw + fft_filter(xw, _fft_response(masks, values))
    else:
        out = xw + _pyramid_delta(xw, values, len(values) - 1)
    if clamp:
        out = out.clamp(0.0, 1.0)
    report(progress, 1, 1)
    return out.to(x.dtype)


def _iter_bands(xw: torch.Tensor, bands: int, method: str) -> Iterator[torch.Tensor]:
    """The full-size bands of ``xw`` one at a time (finest first), so only one is held at once."""
    h, w = xw.shape[-2:]
    if method == "fft":
        masks = fft_band_masks(h, w, octave_cutoffs(bands), device=xw.device, dtype=xw.dtype)
        spectrum = torch.fft.rfft2(mirror_extend(xw))
        for mask in masks:
            yield torch.fft.irfft2(spectrum * mask, s=(2 * h, 2 * w))[..., :h, :w]
        return
    pyr = laplacian_pyramid(xw, bands - 1)
    for level in pyr[:-1]:
        yield expand_to(level, (h, w))
    for _ in range(bands - len(pyr)):
        yield torch.zeros_like(xw)
    yield expand_to(pyr[-1], (h, w))


def split_bands(x: torch.Tensor, bands: int = 4, *, method: str = "fft") -> list[torch.Tensor]:
    """The ``bands`` full-size bands of ``x`` ``[B, C, H, W]`` (finest first), which add up to ``x``.

    Same split as :func:`frequency_bands`. Detail bands are signed (mean about 0), the last band is
    the low-pass residual. With the Laplacian method each pyramid level is expanded to full size (its
    contribution to the collapsed image); levels the image is too small for are zero. Work dtype
    (float32, float64 for float64 input).
    """
    check_image(x, "image")
    _check_bands(bands)
    _check_method(method)
    return list(_iter_bands(x.to(_work_dtype(x)), bands, method))


def band_preview(
    x: torch.Tensor,
    bands: int = 4,
    *,
    method: str = "fft",
    contrast: float = 4.0,
    tile: int = 512,
    gap: int = 2,
) -> torch.Tensor:
    """One preview image per input image: its bands side by side, finest on the left.

    Detail bands are shown as ``0.5 + contrast * band`` (mid grey = nothing), the residual as it is;
    each tile is scaled down (never up, antialiased) so its longer side is at most ``tile`` px
    (0 = full size); tiles are separated by ``gap`` black columns. Returns
    ``[B, C, h, bands * w + (bands - 1) * gap]`` in [0, 1], same dtype as ``x``. Bands are made one
    at a time, so memory stays at a few full-size images whatever ``bands`` is.
    """
    check_image(x, "image")
    _check_bands(bands)
    _check_method(method)
    if isinstance(contrast, bool) or not isinstance(contrast, (int, float)) or not 0 < contrast <= 100:
        raise InvalidParameterError("contrast", f"expected a number in (0, 100], got {contrast!r}.", "give e.g. 4.")
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < 0:
        raise InvalidParameterError("tile", f"expected a whole number >= 0, got {tile!r}.", "give e.g. 512.")
    h, w = x.shape[-2:]
    scale = min(1.0, tile / max(h, w)) if tile > 0 else 1.0
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    tiles = []
    for k, band in enumerate(_iter_bands(x.to(_work_dtype(x)), bands, method)):
        shown = band if k == bands - 1 else 0.5 + contrast * band
        if size != (h, w):
            shown = F.interpolate(shown, size=size, mode="bilinear", align_corners=False, antialias=True)
        tiles.append(shown.clamp(0.0, 1.0))
        if k < bands - 1 and gap > 0:
            tiles.append(shown.new_zeros(*shown.shape[:-1], gap))
    return torch.cat(tiles, dim=-1).to(x.dtype)
