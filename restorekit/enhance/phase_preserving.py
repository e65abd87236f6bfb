"""Phase-preserving enhancement: reshape the amplitude spectrum, keep every phase.

The structure of an image (where its edges and lines are) lives in the phase of its Fourier
transform (Oppenheim & Lim, 1981); its contrast at each scale lives in the amplitude, which for
natural images falls roughly as ``1/f``. Multiplying each coefficient by a real, positive gain
``g`` changes only the amplitude, so edges stay where they are and no ringing-prone phase
distortion is introduced. Two ways to choose ``g`` (``method``):

- ``equalize`` (default): the amplitude envelope ``E(f)`` is measured as the geometric mean of
  ``|X|`` over rings of equal radial frequency, smoothed along the radius. Above the band start
  ``f_lo`` the envelope is flattened towards its level there,
  ``g(f) = detail_gain * (E(f_lo) / E(f))^flatten``: ``flatten = 0`` keeps the spectrum's
  slope, ``1`` whitens it. One gain per ring: a smooth, image-adapted detail boost.
- ``alpha_root``: per coefficient, ``g = detail_gain * (E(f_lo) / |X|)^flatten``, i.e.
  ``|X|^(1 - flatten)`` normalised at the band start (alpha-rooting, Aghagolzadeh & Ersoy 1992,
  with ``alpha = 1 - flatten``). Weak coefficients gain more than strong ones at the same
  frequency, which sharpens more but also raises noise.

The band is ``w(f) = (1 - exp(-f^2 / 2 f_lo^2)) exp(-f^2 / 2 f_hi^2)``; the applied gain is
``exp(w(f) log g(f))`` with ``log g`` clipped to ``+-log(max_gain)``: 1 at DC (the mean is kept
exactly before clipping to [0, 1]; a constant shift then removes the drift that clipping
causes) and smoothly rising into the band. ``f_lo`` and ``f_hi`` are in cycles per image
(across its longer side), so the result does not depend on the resolution.

Colour: by default the luma Y (BT.601) is filtered and its change added to R, G and B alike,
so Cb and Cr are kept; ``luminance_only=False`` filters each channel. With
``border="periodic"`` the image's own DFT is filtered (the output's spectrum is exactly ``g X``,
phases identical); the default ``mirror`` filters a mirror-padded image, which avoids the
seams the periodic wrap-around puts at the borders.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..color import luma
from ..errors import InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report
from .spectral import brightness, drift_grey, mirror_pad_for_fft, radial_frequency, restore_mean

METHODS = ("equalize", "alpha_root")
BORDERS = ("mirror", "periodic")
#: Mirror margin on each side, as a fraction of the longer image side.
_MARGIN_FRACTION = 1 / 16
#: Smoothing of the log envelope along the radius (Gaussian std, in rings).
_ENVELOPE_SMOOTH_RINGS = 1.5


@dataclass(frozen=True)
class PhasePreservingInfo:
    """What :func:`phase_preserving_enhance` did; per-image lists have one entry per image."""

    method: str
    band_cycles_per_image: tuple[float, float]  # (f_lo, f_hi); f_hi = inf for "up to Nyquist"
    mean_gain: list[float]  # mean gain over the band (energy-weighted by w), per image
    max_gain: list[float]  # largest gain applied, per image
    drift: list[float]  # mean-brightness change, 0-255 grey levels


def _number(v: object) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def _check(flatten, detail_gain, low_cutoff, high_cutoff, max_gain, method, luminance_only, border, strength) -> None:
    if not _number(flatten) or not 0 <= flatten <= 1:
        raise InvalidParameterError("flatten", f"expected a number in [0, 1], got {flatten!r}.",
                                    "give e.g. 0.3 (0 = keep the spectrum's slope, 1 = whiten it).")
    if not _number(detail_gain) or not 0 <= detail_gain <= 10:
        raise InvalidParameterError("detail_gain", f"expected a number in [0, 10], got {detail_gain!r}.",
                                    "give e.g. 1.0 (no extra gain).")
    if not _number(low_cutoff) or not 0.1 <= low_cutoff <= 1000:
        raise InvalidParameterError("low_cutoff", f"expected cycles per image in [0.1, 1000], got {low_cutoff!r}.",
                                    "give e.g. 8.")
    if not _number(high_cutoff) or not (high_cutoff == 0 or low_cutoff < high_cutoff <= 10000):
        raise InvalidParameterError(
            "high_cutoff", f"expected 0 (no upper limit) or cycles per image above low_cutoff, got {high_cutoff!r}.",
            "give 0, or e.g. 200.")
    if not _number(max_gain) or not 1 <= max_gain <= 100:
        raise InvalidParameterError("max_gain", f"expected a number in [1, 100], got {max_gain!r}.", "give e.g. 4.")
    if method not in METHODS:
        raise InvalidParameterError("method", f"{method!r} is not supported.", f"choose one of: {', '.join(METHODS)}.")
    if border not in BORDERS:
        raise InvalidParameterError("border", f"{border!r} is not supported.", f"choose one of: {', '.join(BORDERS)}.")
    if not isinstance(luminance_only, bool):
        raise InvalidParameterError("luminance_only", f"expected true/false, got {luminance_only!r}.", None)
    if not _number(strength) or not 0 <= strength <= 1:
        raise InvalidParameterError("strength", f"expected a number in [0, 1], got {strength!r}.", "give e.g. 1.0.")


def _log_envelope(log_amp: torch.Tensor, ring: torch.Tensor, rings: int) -> torch.Tensor:
    """Mean of ``log_amp`` ``[N, h, w']`` over each ring (``ring`` ``[h, w']`` in 0..rings-1),
    smoothed along the radius: ``[N, rings]``. Empty rings borrow from their neighbours."""
    n = log_amp.shape[0]
    flat = log_amp.reshape(n, -1)
    idx = ring.reshape(1, -1).expand(n, -1)
    sums = torch.zeros(n, rings, device=flat.device, dtype=flat.dtype).scatter_add_(1, idx, flat)
    counts = torch.zeros(rings, device=flat.device, dtype=flat.dtype).scatter_add_(
        0, ring.reshape(-1), torch.ones_like(ring.reshape(-1), dtype=flat.dtype))
    # Smooth sums and counts with the same kernel (a normalised convolution): rings with few
    # or no coefficients take their value from the neighbourhood.
    half = math.ceil(3 * _ENVELOPE_SMOOTH_RINGS)
    t = torch.arange(-half, half + 1, device=flat.device, dtype=flat.dtype)
    k = torch.exp(-0.5 * (t / _ENVELOPE_SMOOTH_RINGS) ** 2).view(1, 1, -1)
    pad = (half, half)
    # A windowed sum rather than conv1d: cuDNN may run conv1d in TF32 (10-bit mantissa), which
    # moved the gains by ~1e-3 relative on CUDA; this 1-D smoothing is tiny, so exact fp32 is free.
    s = (torch.nn.functional.pad(sums.unsqueeze(1), pad, mode="replicate").unfold(-1, 2 * half + 1, 1) * k).sum(-1)
    c = (torch.nn.functional.pad(counts.view(1, 1, -1), pad, mode="replicate").unfold(-1, 2 * half + 1, 1) * k).sum(-1)
    return s.squeeze(1) / c.view(1, -1).clamp(min=1e-12)


def _gain(
    spectrum: torch.Tensor, hp: int, wp: int, length: int, *, flatten: float, detail_gain: float, low_cutoff: float,
    high_cutoff: float, max_gain: float, method: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The real gain ``[N, hp, wp//2+1]`` for the spectra ``[N, hp, wp//2+1]`` of ``hp x wp`` padded
    planes of an image whose longer side is ``length`` px, and the band weight ``w`` ``[hp, wp//2+1]``."""
    dtype = spectrum.real.dtype
    f = radial_frequency(hp, wp, device=spectrum.device, dtype=dtype)  # cycles / px
    f_lo = low_cutoff / length
    band = 1.0 - torch.exp(f * f * (-0.5 / (f_lo * f_lo)))
    if high_cutoff > 0:
        f_hi = high_cutoff / length
        band = band * torch.exp(f * f * (-0.5 / (f_hi * f_hi)))
    # Rings one coefficient apart along the longer padded axis.
    step = 1.0 / max(hp, wp)
    ring = torch.round(f / step).long()
    rings = math.ceil(math.sqrt(0.5) * max(hp, wp)) + 2  # the largest f is sqrt(1/2) cycles / px
    log_amp = torch.log(spectrum.abs().clamp(min=torch.finfo(dtype).tiny))
    env = _log_envelope(log_amp, ring, rings)  # [N, rings]
    lo_ring = min(max(int(round(f_lo / step)), 1), rings - 1) if rings > 1 else 0
    ref = env[:, lo_ring].view(-1, 1, 1)
    local = env[:, ring] if method == "equalize" else log_amp
    log_g = flatten * (ref - local) + math.log(max(detail_gain, 1e-12))
    bound = math.log(max_gain)
    log_g = log_g.clamp(-bound, bound) * band
    return torch.exp(log_g), band


def phase_preserving_enhance(
    x: torch.Tensor,
    *,
    flatten: float = 0.2,
    detail_gain: float = 1.0,
    low_cutoff: float = 8.0,
    high_cutoff: float = 0.0,
    max_gain: float = 3.0,
    method: str = "equalize",
    luminance_only: bool = True,
    border: str = "mirror",
    strength: float = 1.0,
    clamp: bool = True,
    return_info: bool = False,
    progress: ProgressCallback | None = None,
) -> torch.Tensor | tuple[torch.Tensor, PhasePreservingInfo]:
    """Phase-preserving amplitude-spectrum enhancement of ``x`` ``[B, C, H, W]`` (C = 1 or 3, [0, 1]).

    Computes ``F^-1[g . F[v]]`` on luma (or each channel) with the real gain ``g`` of the module
    docstring, so every Fourier phase is kept and the mean (DC) is unchanged.

    Args:
        flatten: 0-1, how far the amplitude spectrum is flattened in the band (0 = only
            ``detail_gain`` applies, 1 = whitened).
        detail_gain: 0-10, extra gain on the band (1 = none, < 1 softens).
        low_cutoff: band start ``f_lo`` in cycles per image (longer side), 0.1-1000; coarser
            structure keeps its contrast.
        high_cutoff: band end ``f_hi`` in cycles per image, 0 = no upper limit (up to Nyquist).
        max_gain: 1-100, limit on the gain (and on the attenuation, ``1/max_gain``).
        method: ``equalize`` (one gain per frequency ring) or ``alpha_root`` (per coefficient).
        luminance_only: RGB: filter luma and keep Cb, Cr (default); False = every channel.
        border: ``mirror`` (padded, no seams) or ``periodic`` (the image's own DFT).
        strength: blend with the input, 0 = unchanged, 1 = full effect.
        clamp: clip to [0, 1] and remove the drift clipping causes (default). ``False`` returns
            the raw filtered values, whose spectrum is exactly ``g X``.
        return_info: also return a :class:`PhasePreservingInfo`.
        progress: optional callback ``(done, total)`` in images.

    Returns:
        The enhanced batch, same shape, dtype and device (and the info if asked).
    """
    check_image(x, "image")
    _check(flatten, detail_gain, low_cutoff, high_cutoff, max_gain, method, luminance_only, border, strength)
    b, c, h, w = x.shape
    report(progress, 0, b)
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    xf = x.to(work)
    by_channel = c == 1 or not luminance_only
    v = xf if by_channel else luma(xf)
    length = max(h, w)
    if border == "mirror":
        margin = math.ceil(_MARGIN_FRACTION * length)
        vp, (top, left) = mirror_pad_for_fft(v, margin if h > 1 else 0, margin if w > 1 else 0)
    else:
        vp, (top, left) = v, (0, 0)
    hp, wp = vp.shape[-2:]
    spectrum = torch.fft.rfft2(vp)
    planes = spectrum.reshape(-1, *spectrum.shape[-2:])
    gain, band = _gain(planes, hp, wp, length, flatten=flatten, detail_gain=detail_gain,
                       low_cutoff=low_cutoff, high_cutoff=high_cutoff, max_gain=max_gain, method=method)
    gain = gain.view(spectrum.shape)
    filtered = torch.fft.irfft2(spectrum * gain, s=(hp, wp))[..., top : top + h, left : left + w]
    out = xf + (filtered - v)  # the luma change goes to R, G and B alike
    if strength < 1:
        out = xf + float(strength) * (out - xf)
    if clamp:
        out = restore_mean(out, brightness(xf, by_channel), per_channel=by_channel, multiplicative=False)
    report(progress, b, b)
    result = out.to(x.dtype)
    if not return_info:
        return result
    weights = band.expand_as(gain).reshape(b, -1)
    g = gain.reshape(b, -1)
    info = PhasePreservingInfo(
        method=method,
        band_cycles_per_image=(float(low_cutoff), float(high_cutoff) if high_cutoff > 0 else math.inf),
        mean_gain=((g * weights).sum(1) / weights.sum(1).clamp(min=1e-12)).tolist(),
        max_gain=g.amax(dim=1).tolist(),
        drift=drift_grey(out, xf, by_channel).tolist(),
    )
    return result, info
