"""Wavelet shrinkage denoising (DWT / SWT / cycle spinning) for additive white Gaussian noise.

Each channel is decomposed with a PyWavelets discrete wavelet, every detail subband is shrunk
with a threshold chosen by BayesShrink, VisuShrink, SureShrink or given by hand (see
:mod:`restorekit.denoise.wavelet_threshold`), and the image is rebuilt. The approximation
band is kept as is.

Transforms:

- ``"decimated"``: the ordinary 2-D DWT (``pywt.wavedec2``, symmetric boundary extension).
- ``"stationary"``: the undecimated (stationary, "à trous") transform ``pywt.swt2``; the image is
  given a mirrored margin (:data:`SWT_MARGIN`), symmetrically padded to a multiple of
  ``2**levels`` and cropped back afterwards.
- ``"cycle_spin"``: the decimated result averaged over ``shifts x shifts`` spatial shifts
  (Coifman & Donoho, 1995); shifts are made on a symmetrically padded copy, so no wrap-around
  seams appear at the borders.

Noise: the noise level of every subband is ``sigma`` times the norm of the subband's
equivalent analysis filter, which is 1 for orthogonal wavelets and is computed exactly for
biorthogonal ones, so thresholds are right for every family. ``sigma=None`` estimates sigma
per channel of the image being thresholded (after the colour conversion) with the robust
median-absolute-deviation estimator of :func:`restorekit.quality.noise.estimate_sigma`.

Colour: ``"ycbcr"`` thresholds Y, Cb and Cr (BT.601 full range); a given RGB ``sigma`` is
converted to the noise of each YCbCr channel (the norm of the matrix row). ``"per_channel"``
thresholds R, G and B separately. Gray images are single channel in both cases.

Defaults (measured on Set12 and BSD68 at sigma 15/25/50, see ``bench/bench_wavelet.py``):
SureShrink with the non-negative garrote on the stationary transform with bior1.3 and automatic
levels, colour in YCbCr.

This is a CPU algorithm (PyWavelets): tensors on other devices are processed on the CPU and
returned on their device.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pywt
import torch

from ..color import rgb_to_ycbcr, ycbcr_to_rgb
from ..errors import InvalidParameterError
from ..image import check_image, from_numpy, to_numpy
from ..progress import ProgressCallback, report
from ..quality.noise import estimate_sigma
from .wavelet_threshold import MODES, bayes_threshold, shrink, sure_threshold, universal_threshold

METHODS = ("bayes", "visu", "sure", "manual")
TRANSFORMS = ("decimated", "stationary", "cycle_spin")
COLORS = ("ycbcr", "per_channel")
DISCRETE_WAVELETS: tuple[str, ...] = tuple(pywt.wavelist(kind="discrete"))
# Defaults chosen by measurement (Set12 and a BSD68 subset, sigma 15/25/50, clipped noisy input):
# the stationary transform gains about 1 dB over the decimated one; with it, bior1.3 was the best
# of 20 families tried (db1-db3, sym4, sym8, coif1-2, bior/rbio 1.x-4.4, dmey), and SureShrink with
# the garrote beat BayesShrink with soft thresholding by 0.2-0.7 dB at every level.
DEFAULT_METHOD = "sure"
DEFAULT_MODE = "garrote"
DEFAULT_WAVELET = "bior1.3"
DEFAULT_TRANSFORM = "stationary"
DEFAULT_SHIFTS = 4
#: Automatic levels: decompose until the coarsest approximation band would get smaller than this
#: many samples on the short side (see :func:`auto_levels`).
AUTO_COARSEST = 16
MAX_LEVELS = 10
#: Mirrored border (pixels per side) added before the stationary transform, whose periodic
#: extension would otherwise wrap the opposite border into the image (+0.1-0.2 dB on Set12).
SWT_MARGIN = 16


def _ycbcr_noise_gain() -> tuple[float, ...]:
    """Row norms of the RGB -> YCbCr matrix: the noise std of Y, Cb and Cr for unit i.i.d. RGB noise."""
    basis = torch.eye(3, dtype=torch.float64).view(3, 3, 1, 1)  # three pure-R/G/B pixels
    columns = rgb_to_ycbcr(basis) - rgb_to_ycbcr(torch.zeros_like(basis))
    return tuple(float(v) for v in columns[..., 0, 0].T.norm(dim=1))


_YCBCR_NOISE_GAIN = _ycbcr_noise_gain()


@dataclass
class WaveletInfo:
    """What :func:`wavelet_denoise` (with ``return_info=True``) did to one image of the batch.

    ``sigma``: noise sigma per thresholded channel, in the image's units ([0, 1]).
    ``thresholds``: per channel, per level (finest first), the (H, V, D) thresholds in [0, 1]
    units (for cycle spinning, the mean over the shifts).
    """

    channels: tuple[str, ...]
    sigma: list[float]
    sigma_estimated: bool
    levels: int
    thresholds: list[list[tuple[float, float, float]]] = field(default_factory=list)


def _check_wavelet(wavelet: str) -> pywt.Wavelet:
    if not isinstance(wavelet, str) or wavelet not in DISCRETE_WAVELETS:
        raise InvalidParameterError(
            "wavelet",
            f"{wavelet!r} is not a PyWavelets discrete wavelet.",
            "choose one of pywt.wavelist(kind='discrete'), e.g. 'db4', 'sym8', 'coif2' or 'bior4.4'.",
        )
    return pywt.Wavelet(wavelet)


def max_levels(height: int, width: int, wavelet: str, transform: str = "decimated") -> int:
    """The most decomposition levels that make sense for an image of ``height x width``.

    At least one level for images of 2 pixels or more on the short side (boundary effects then
    dominate, but the transform still works), 0 below that. The coarsest band keeps at least one
    sample, and for the decimated transforms the filter's support (``pywt.dwt_max_level``).
    """
    short = min(height, width)
    if short < 2:
        return 0
    dyadic = int(math.floor(math.log2(short)))  # coarsest band >= 1 sample
    limit = dyadic
    if transform != "stationary":
        limit = min(limit, pywt.dwt_max_level(short, pywt.Wavelet(wavelet).dec_len))
    return max(1, min(limit, MAX_LEVELS))


def auto_levels(height: int, width: int, wavelet: str, transform: str = "decimated", method: str = "bayes") -> int:
    """Automatic number of levels, within :func:`max_levels`.

    Adaptive thresholds (BayesShrink, SureShrink, manual): decompose while the coarsest
    approximation band keeps at least :data:`AUTO_COARSEST` samples on the short side, e.g. 3
    levels at 128 pixels, 4 at 256, 5 at 512 (on Set12 more levels changed PSNR by < 0.01 dB,
    fewer lost 0.1-0.8 dB). VisuShrink: 2 levels, because its universal threshold wipes out the
    coarser bands (2 levels measured best at sigma 15-50 and sizes 256 and 512, by 0.2-3 dB).
    """
    short = min(height, width)
    if method == "visu":
        wanted = 2
    else:
        wanted = int(math.floor(math.log2(short / AUTO_COARSEST))) if short >= 2 * AUTO_COARSEST else 1
    return max(0, min(wanted, max_levels(height, width, wavelet, transform)))


@lru_cache(maxsize=256)
def subband_noise_gains(wavelet: str, levels: int) -> tuple[tuple[float, float], ...]:
    """Noise gain of the detail subbands, per level (finest first): ``(gain of H and V, gain of D)``.

    The gain is the norm of the subband's 2-D equivalent analysis filter (lowpass cascade,
    then the highpass, upsampled per level); white noise of std ``s`` gives coefficients of std
    ``s * gain`` in the decimated and the (unnormalised) stationary transform alike. It is 1 for
    orthogonal wavelets.
    """
    w = pywt.Wavelet(wavelet)
    lo = np.asarray(w.dec_lo, dtype=np.float64)
    hi = np.asarray(w.dec_hi, dtype=np.float64)
    low_path = np.ones(1)
    gains = []
    for j in range(levels):
        step = 2**j

        def upsample(f: np.ndarray, step: int = step) -> np.ndarray:
            g = np.zeros((len(f) - 1) * step + 1)
            g[::step] = f
            return g

        high = np.convolve(low_path, upsample(hi))
        low_path = np.convolve(low_path, upsample(lo))
        nh, nl = float(np.linalg.norm(high)), float(np.linalg.norm(low_path))
        gains.append((nh * nl, nh * nh))
    return tuple(gains)


def _band_threshold(
    band: np.ndarray, noise: float, method: str, mode: str, n_pixels: int, manual: float | None, hybrid: bool
) -> float:
    if method == "bayes":
        return bayes_threshold(band, noise)
    if method == "visu":
        return universal_threshold(noise, n_pixels)
    if method == "sure":
        return sure_threshold(band, noise, mode=mode, hybrid=hybrid)
    return float(manual) if manual is not None else 0.0


def _shrink_details(
    coeffs: list, gains, sigma: float, method: str, mode: str, n_pixels: int, manual: float | None, hybrid: bool
) -> list[tuple[float, float, float]]:
    """Shrink the detail tuples of a ``wavedec2``/``swt2`` coefficient list in place (each level's
    tuple is replaced, so the unshrunk bands can be freed). Returns the thresholds, finest level first."""
    levels = len(coeffs) - 1
    used = []
    for j in range(levels):  # j = 0 is the finest level, stored last
        k = levels - j
        g_hv, g_d = gains[j]
        level_out, level_t = [], []
        for band, gain in zip(coeffs[k], (g_hv, g_hv, g_d), strict=True):
            t = _band_threshold(
                band, sigma * gain, method, mode, n_pixels, None if manual is None else manual * gain, hybrid
            )
            level_out.append(shrink(band, t, mode))
            level_t.append(t)
        coeffs[k] = tuple(level_out)
        used.append(tuple(level_t))
    return used


def _denoise_decimated(
    img: np.ndarray,
    wavelet: str,
    levels: int,
    sigma: float,
    method: str,
    mode: str,
    manual: float | None,
    hybrid: bool,
    n_pixels: int,
):
    with warnings.catch_warnings():
        # Tiny images get one level even when the filter is longer than the image (boundary effects dominate).
        warnings.filterwarnings("ignore", message="Level value of", category=UserWarning)
        coeffs = pywt.wavedec2(img, wavelet, mode="symmetric", level=levels)
    used = _shrink_details(coeffs, subband_noise_gains(wavelet, levels), sigma, method, mode, n_pixels, manual, hybrid)
    rec = pywt.waverec2(coeffs, wavelet, mode="symmetric")
    return rec[: img.shape[0], : img.shape[1]], used


def _iswt2(coeffs: list, wavelet: str) -> np.ndarray:
    """Inverse of ``pywt.swt2(..., trim_approx=True)`` (same result as ``pywt.iswt2``, vectorised).

    Level ``j`` of the stationary transform is the one-level undecimated transform of each
    polyphase component of step ``s = 2**(j-1)``; the inverse of a one-level undecimated transform
    is the mean of the four periodised inverse DWTs of its (even/odd row, even/odd column)
    coefficient subsets, each shifted back into place. All polyphase components of a level go
    through one batched ``pywt.idwt2`` call instead of ``4**j`` small ones.
    """
    out = coeffs[0]
    levels = len(coeffs) - 1
    for j, details in enumerate(coeffs[1:]):
        s = 2 ** (levels - j - 1)
        h, w = out.shape
        hs, ws = h // s, w // s
        bands = [a.reshape(hs, s, ws, s).transpose(1, 3, 0, 2) for a in (out, *details)]  # [s, s, hs, ws]
        acc = None
        for oy in (0, 1):
            for ox in (0, 1):
                sel = [band[..., oy::2, ox::2] for band in bands]
                part = pywt.idwt2((sel[0], tuple(sel[1:])), wavelet, mode="periodization", axes=(-2, -1))
                if oy or ox:
                    part = np.roll(part, (oy, ox), axis=(-2, -1))
                acc = part if acc is None else acc + part
        out = (acc * 0.25).transpose(2, 0, 3, 1).reshape(h, w)
    return out


def _denoise_stationary(
    img: np.ndarray,
    wavelet: str,
    levels: int,
    sigma: float,
    method: str,
    mode: str,
    manual: float | None,
    hybrid: bool,
    n_pixels: int,
):
    h, w = img.shape
    block = 2**levels
    # swt2 extends periodically: a mirrored margin keeps the wrap-around away from the image,
    # then the size is padded up to a multiple of 2**levels.
    my, mx = min(SWT_MARGIN, h), min(SWT_MARGIN, w)
    ph, pw = -(h + 2 * my) % block, -(w + 2 * mx) % block
    top, left = my + ph // 2, mx + pw // 2
    padded = np.pad(img, ((top, my + ph - ph // 2), (left, mx + pw - pw // 2)), mode="symmetric")
    coeffs = pywt.swt2(padded, wavelet, level=levels, trim_approx=True)
    del padded
    used = _shrink_details(coeffs, subband_noise_gains(wavelet, levels), sigma, method, mode, n_pixels, manual, hybrid)
    rec = _iswt2(coeffs, wavelet)
    return rec[top : top + h, left : left + w], used


def _denoise_cycle_spin(
    img: np.ndarray,
    wavelet: str,
    levels: int,
    sigma: float,
    method: str,
    mode: str,
    manual: float | None,
    hybrid: bool,
    n_pixels: int,
    shifts: int,
    tick,
) -> tuple:
    h, w = img.shape
    sy, sx = min(shifts, h), min(shifts, w)
    py, px = sy - 1, sx - 1
    padded = np.pad(img, ((py, py), (px, px)), mode="symmetric") if (py or px) else img
    acc = np.zeros((h, w), dtype=np.float64)
    used_sum = None
    count = 0
    for dy in range(sy):
        for dx in range(sx):
            window = padded[dy : dy + h + py, dx : dx + w + px]
            rec, used = _denoise_decimated(window, wavelet, levels, sigma, method, mode, manual, hybrid, n_pixels)
            oy, ox = py - dy, px - dx
            acc += rec[oy : oy + h, ox : ox + w]
            arr = np.asarray(used, dtype=np.float64)
            used_sum = arr if used_sum is None else used_sum + arr
            count += 1
            tick()
    mean_used = [tuple(float(v) for v in row) for row in (used_sum / count)]
    return (acc / count).astype(img.dtype), mean_used


def _validate(sigma, method, mode, wavelet, levels, transform, shifts, color, threshold, sure_hybrid) -> None:
    if method not in METHODS:
        raise InvalidParameterError(
            "method", f"{method!r} is not a threshold rule.", f"choose one of {', '.join(METHODS)}."
        )
    if mode not in MODES:
        raise InvalidParameterError("mode", f"{mode!r} is not a threshold mode.", f"choose one of {', '.join(MODES)}.")
    if transform not in TRANSFORMS:
        raise InvalidParameterError(
            "transform", f"{transform!r} is not a transform.", f"choose one of {', '.join(TRANSFORMS)}."
        )
    if color not in COLORS:
        raise InvalidParameterError("color", f"{color!r} is not a colour mode.", f"choose one of {', '.join(COLORS)}.")
    _check_wavelet(wavelet)
    if isinstance(levels, bool) or not isinstance(levels, int) or not 0 <= levels <= MAX_LEVELS:
        raise InvalidParameterError(
            "levels", f"expected a whole number from 0 to {MAX_LEVELS}, got {levels!r}.", "use 0 for automatic."
        )
    if isinstance(shifts, bool) or not isinstance(shifts, int) or not 1 <= shifts <= 16:
        raise InvalidParameterError("shifts", f"expected a whole number from 1 to 16, got {shifts!r}.", "use e.g. 4.")
    if sigma is not None and (
        isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not math.isfinite(sigma) or not 0 < sigma <= 1
    ):
        raise InvalidParameterError(
            "sigma",
            f"expected a noise standard deviation in (0, 1] (image units) or None, got {sigma!r}.",
            "divide a 0-255 sigma by 255; use None to estimate it.",
        )
    if not isinstance(sure_hybrid, bool):
        raise InvalidParameterError("sure_hybrid", f"expected True or False, got {sure_hybrid!r}.", None)
    if method == "manual":
        if (
            threshold is None
            or isinstance(threshold, bool)
            or not isinstance(threshold, (int, float))
            or not math.isfinite(threshold)
            or threshold < 0
        ):
            raise InvalidParameterError(
                "threshold",
                f"method 'manual' needs a threshold >= 0 in image units ([0, 1]), got {threshold!r}.",
                "divide a 0-255 threshold by 255.",
            )


def wavelet_denoise(
    x: torch.Tensor,
    *,
    sigma: float | None = None,
    method: str = DEFAULT_METHOD,
    mode: str = DEFAULT_MODE,
    wavelet: str = DEFAULT_WAVELET,
    levels: int = 0,
    transform: str = DEFAULT_TRANSFORM,
    shifts: int = DEFAULT_SHIFTS,
    color: str = "ycbcr",
    threshold: float | None = None,
    sure_hybrid: bool = True,
    return_info: bool = False,
    progress: ProgressCallback | None = None,
) -> torch.Tensor | tuple[torch.Tensor, list[WaveletInfo]]:
    """Denoise ``x`` ``[B, C, H, W]`` (C = 1 or 3, float in [0, 1]) by wavelet shrinkage.

    Args:
        sigma: noise standard deviation of the (RGB or gray) image in [0, 1] units; ``None``
            estimates it per image and per thresholded channel (robust MAD estimator).
        method: ``"bayes"`` (BayesShrink, per-subband ``sigma^2 / sigma_x``), ``"visu"``
            (universal threshold ``sigma sqrt(2 ln N)``), ``"sure"`` (SureShrink: per subband the
            minimiser of Stein's unbiased risk, optionally with the hybrid rule) or ``"manual"``.
        mode: shrinkage function, ``"soft"``, ``"hard"`` or ``"garrote"``.
        wavelet: any name of ``pywt.wavelist(kind="discrete")``.
        levels: decomposition levels; 0 = automatic (:func:`auto_levels`). Clamped to what the
            image size allows (:func:`max_levels`); a 1-pixel-thin image is returned unchanged.
        transform: ``"decimated"``, ``"stationary"`` or ``"cycle_spin"``.
        shifts: for ``"cycle_spin"``, shifts per axis (``shifts**2`` decompositions averaged).
        color: ``"ycbcr"`` or ``"per_channel"`` for RGB input (ignored for gray).
        threshold: for ``method="manual"``, the threshold in [0, 1] units (the units of an RGB or
            gray sigma), applied to every detail subband; like a given sigma it is scaled by the
            noise gain of each YCbCr channel and of each subband (non-orthogonal wavelets).
        sure_hybrid: for ``"sure"``, use Donoho & Johnstone's hybrid rule (universal threshold
            on subbands that are nearly pure noise).
        return_info: also return what was done to each image (see Returns).
        progress: called with ``(done, total)`` after each channel of each image (and each shift).

    Returns:
        The denoised batch, same shape, dtype and device as ``x``, clamped to [0, 1]. With
        ``return_info=True``, ``(image, infos)``: ``infos`` is a list of one :class:`WaveletInfo`
        per image (channels, sigma per channel, levels and thresholds used).
    """
    check_image(x, "image")
    _validate(sigma, method, mode, wavelet, levels, transform, shifts, color, threshold, sure_hybrid)
    b, c, h, w = x.shape
    work = x.float()
    use_ycbcr = c == 3 and color == "ycbcr"
    if use_ycbcr:
        work = rgb_to_ycbcr(work)
        names = ("Y", "Cb", "Cr")
    else:
        names = ("gray",) if c == 1 else ("R", "G", "B")
    channel_gain = _YCBCR_NOISE_GAIN if use_ycbcr else (1.0,) * c
    if sigma is None:
        sigmas = estimate_sigma(work).double().cpu().numpy()  # [B, C], per channel of the thresholded image
    else:
        sigmas = np.tile(np.asarray([sigma * g for g in channel_gain], dtype=np.float64), (b, 1))
    lev = levels if levels > 0 else auto_levels(h, w, wavelet, transform, method)
    lev = min(lev, max_levels(h, w, wavelet, transform))
    arr = to_numpy(work)  # [B, H, W, C] float32
    out = np.empty_like(arr)
    steps = shifts * shifts if transform == "cycle_spin" else 1
    total = b * c * steps
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        report(progress, done, total)

    infos = []
    for i in range(b):
        info = WaveletInfo(
            channels=names, sigma=[float(s) for s in sigmas[i]], sigma_estimated=sigma is None, levels=lev
        )
        for ch in range(c):
            img = arr[i, :, :, ch]
            s = float(sigmas[i, ch])
            if lev == 0 or (s <= 0 and method != "manual"):
                out[i, :, :, ch] = img
                info.thresholds.append([(0.0, 0.0, 0.0)] * lev)
                for _ in range(steps):
                    tick()
                continue
            manual = float(threshold) * channel_gain[ch] if method == "manual" else None
            args = (img, wavelet, lev, s, method, mode, manual, sure_hybrid, h * w)
            if transform == "decimated":
                rec, used = _denoise_decimated(*args)
                tick()
            elif transform == "stationary":
                rec, used = _denoise_stationary(*args)
                tick()
            else:
                rec, used = _denoise_cycle_spin(*args, shifts, tick)
            out[i, :, :, ch] = rec
            info.thresholds.append([tuple(float(t) for t in lvl) for lvl in used])
        infos.append(info)
    result = from_numpy(out, work)
    if use_ycbcr:
        result = ycbcr_to_rgb(result)
    result = result.clamp_(0.0, 1.0).to(dtype=x.dtype)
    return (result, infos) if return_info else result
