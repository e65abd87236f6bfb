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

Implementation: torch on the input's device (CUDA tensors stay on the GPU), float32 (float64 for
float64 input), every image and channel of the batch at once as rows ``[B*C, H, W]``; the
transforms are :mod:`restorekit.denoise.wavelet_transform` (PyWavelets' conventions and filters,
same coefficients) and the thresholds the batched rules of
:mod:`restorekit.denoise.wavelet_threshold` (SureShrink exact, without sorting whole subbands).
The results are those of the former PyWavelets implementation (float64: within 1e-5, see
``tests/denoise/test_wavelet.py``, which keeps it as the reference).
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
from ..image import check_image
from ..progress import ProgressCallback, report
from ..quality.noise import estimate_sigma
from . import wavelet_transform as wt
from .wavelet_threshold import MODES, bayes_thresholds, shrink_rows_, sure_thresholds, universal_thresholds

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
#: On CPU tensors the decimated transform runs in PyWavelets' C code (faster there; the same
#: coefficients as the torch transform that GPUs use) and the levels are thresholded one by one.
#: True: the path of GPUs on the CPU too (tests).
_GPU_PATH_ON_CPU = False


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


def _row_thresholds(
    bands: list[torch.Tensor],
    noise: list[torch.Tensor],
    method: str,
    mode: str,
    n_pixels: int,
    manual: list[torch.Tensor] | None,
    hybrid: bool,
) -> list[torch.Tensor]:
    """The threshold ``[R]`` (float64) of every row of every band ``[R, n]`` with noise ``[R]``."""
    if method == "sure":
        return sure_thresholds(bands, noise, mode=mode, hybrid=hybrid)
    if method == "bayes":
        return [bayes_thresholds(band, s) for band, s in zip(bands, noise, strict=True)]
    if method == "visu":
        return [universal_thresholds(s, n_pixels) for s in noise]
    return list(manual)


def _shrink_levels(
    details: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    gains,
    sigma: torch.Tensor,
    method: str,
    mode: str,
    n_pixels: int,
    manual: torch.Tensor | None,
    hybrid: bool,
    scratch: torch.Tensor | None = None,
    tick=None,
) -> torch.Tensor:
    """Threshold and shrink (in place) the detail bands, finest level first: ``details[j]`` =
    (cH, cV, cD) of level ``j + 1``, each ``[R, ...]`` with one row per image-channel (noise sigma
    ``[R]``). Returns the thresholds ``[R, levels, 3]`` (float64).

    ``tick``: called once per level. On the CPU the levels are thresholded one after the other
    (progress between them); elsewhere all subbands go through the threshold rule together (SURE
    then costs its few host syncs once, not per level) and the ticks come at the end.
    """
    one_by_one = details[0][0].device.type == "cpu" and not _GPU_PATH_ON_CPU
    groups = [[j] for j in range(len(details))] if one_by_one else [list(range(len(details)))]
    used: list[torch.Tensor] = []
    for group in groups:
        bands, noise, man = [], [], []
        for j in group:
            g_hv, g_d = gains[j]
            for band, gain in zip(details[j], (g_hv, g_hv, g_d), strict=True):
                bands.append(band.reshape(band.shape[0], -1))
                noise.append(sigma * gain)
                if manual is not None:
                    man.append(manual * gain)
        thresholds = _row_thresholds(bands, noise, method, mode, n_pixels, man if manual is not None else None, hybrid)
        k = 0
        for j in group:
            for band in details[j]:
                buf = scratch if scratch is not None and scratch.shape == band.shape else None
                shrink_rows_(band, thresholds[k], mode, scratch=buf)
                k += 1
            if tick is not None and one_by_one:
                tick()
        used.extend(thresholds)
    if tick is not None and not one_by_one:
        for _ in details:
            tick()
    return torch.stack(used, dim=1).view(-1, len(details), 3)


def _symmetric_pad(x: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """Half-sample symmetric extension (``numpy.pad(mode="symmetric")``) of ``[R, H, W]``."""
    x = wt._pad(x, -2, top, bottom, "symmetric")
    return wt._pad(x, -1, left, right, "symmetric")


def _wavedec2(rows: torch.Tensor, wavelet: str, levels: int) -> list:
    """``wavedec2`` (symmetric) of ``rows`` ``[R, H, W]``: torch on GPUs; on the CPU PyWavelets' batched C
    transform (same coefficients, faster there than strided torch slices), as tensors sharing its arrays."""
    if rows.device.type != "cpu" or _GPU_PATH_ON_CPU:
        return wt.wavedec2(rows, wavelet, levels, mode="symmetric")
    with warnings.catch_warnings():
        # tiny images get one level even when the filter is longer than the image (boundary effects dominate)
        warnings.filterwarnings("ignore", message="Level value of", category=UserWarning)
        coeffs = pywt.wavedec2(np.ascontiguousarray(rows.detach().numpy()), wavelet, mode="symmetric", level=levels, axes=(-2, -1))
    return [torch.from_numpy(coeffs[0]), *[tuple(torch.from_numpy(b) for b in lvl) for lvl in coeffs[1:]]]


def _waverec2(coeffs: list, wavelet: str, like: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_wavedec2`."""
    if like.device.type != "cpu" or _GPU_PATH_ON_CPU:
        return wt.waverec2(coeffs, wavelet, mode="symmetric")
    arrays = [coeffs[0].numpy(), *[tuple(b.numpy() for b in lvl) for lvl in coeffs[1:]]]
    return torch.from_numpy(pywt.waverec2(arrays, wavelet, mode="symmetric", axes=(-2, -1)))


def _denoise_decimated(rows: torch.Tensor, wavelet: str, levels: int, shrink_args: dict) -> tuple:
    """Decimated shrinkage of ``rows`` ``[R, H, W]``: returns (image ``[R, H, W]``, thresholds ``[R, levels, 3]``)."""
    h, w = rows.shape[-2:]
    coeffs = _wavedec2(rows, wavelet, levels)
    details = [tuple(band.contiguous() for band in coeffs[levels - j]) for j in range(levels)]  # finest first
    used = _shrink_levels(details, subband_noise_gains(wavelet, levels), **shrink_args)
    coeffs = [coeffs[0], *[details[levels - k] for k in range(1, levels + 1)]]
    return _waverec2(coeffs, wavelet, rows)[..., :h, :w], used


def _denoise_stationary(rows: torch.Tensor, wavelet: str, levels: int, shrink_args: dict, tick) -> tuple:
    """Stationary shrinkage of ``rows`` ``[R, H, W]`` (mirrored margin, padded to a multiple of ``2**levels``)."""
    r, h, w = rows.shape
    block = 2**levels
    # swt2 extends periodically: a mirrored margin keeps the wrap-around away from the image,
    # then the size is padded up to a multiple of 2**levels.
    my, mx = min(SWT_MARGIN, h), min(SWT_MARGIN, w)
    ph, pw = -(h + 2 * my) % block, -(w + 2 * mx) % block
    top, left = my + ph // 2, mx + pw // 2
    a = _symmetric_pad(rows, top, my + ph - ph // 2, left, mx + pw - pw // 2).contiguous()
    scratch = (torch.empty_like(a), torch.empty_like(a))
    store = a.new_empty((levels, 3, *a.shape))
    details = [(store[j, 0], store[j, 1], store[j, 2]) for j in range(levels)]
    for j in range(levels):
        wt.swt2_level_into(a, wavelet, j, a, details[j], scratch)
        tick()
    used = _shrink_levels(details, subband_noise_gains(wavelet, levels), scratch=scratch[0], tick=tick, **shrink_args)
    for j in reversed(range(levels)):
        wt.iswt2_level_into(a, details[j], wavelet, j, a, scratch)
        tick()
    return a[:, top : top + h, left : left + w], used


def _denoise_cycle_spin(rows: torch.Tensor, wavelet: str, levels: int, shrink_args: dict, shifts: int, tick) -> tuple:
    """The decimated result averaged over ``shifts x shifts`` shifts of a symmetrically padded copy."""
    r, h, w = rows.shape
    sy, sx = min(shifts, h), min(shifts, w)
    py, px = sy - 1, sx - 1
    padded = _symmetric_pad(rows, py, py, px, px) if (py or px) else rows
    acc = torch.zeros_like(rows)
    used_sum = None
    for dy in range(sy):
        for dx in range(sx):
            window = padded[:, dy : dy + h + py, dx : dx + w + px]
            rec, used = _denoise_decimated(window, wavelet, levels, shrink_args)
            oy, ox = py - dy, px - dx
            acc += rec[:, oy : oy + h, ox : ox + w]
            used_sum = used if used_sum is None else used_sum + used
            tick()
    count = sy * sx
    return acc / count, used_sum / count


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
        progress: called with ``(done, total)``: stationary, after each level of the forward
            transform, of the thresholding and of the inverse transform (``3 levels`` steps); cycle
            spinning, after each shift; decimated, 3 steps. The whole batch is processed at once.

    Returns:
        The denoised batch, same shape, dtype and device as ``x``, clamped to [0, 1]. With
        ``return_info=True``, ``(image, infos)``: ``infos`` is a list of one :class:`WaveletInfo`
        per image (channels, sigma per channel, levels and thresholds used).
    """
    check_image(x, "image")
    _validate(sigma, method, mode, wavelet, levels, transform, shifts, color, threshold, sure_hybrid)
    b, c, h, w = x.shape
    work = x.detach().to(torch.float64 if x.dtype == torch.float64 else torch.float32)  # not differentiable
    use_ycbcr = c == 3 and color == "ycbcr"
    if use_ycbcr:
        work = rgb_to_ycbcr(work)
        names = ("Y", "Cb", "Cr")
    else:
        names = ("gray",) if c == 1 else ("R", "G", "B")
    channel_gain = torch.tensor(_YCBCR_NOISE_GAIN if use_ycbcr else (1.0,) * c, dtype=torch.float64, device=x.device)
    if sigma is None:
        sigmas = estimate_sigma(work).to(torch.float64)  # [B, C], per channel of the thresholded image
    else:
        sigmas = (float(sigma) * channel_gain).expand(b, c)
    lev = levels if levels > 0 else auto_levels(h, w, wavelet, transform, method)
    lev = min(lev, max_levels(h, w, wavelet, transform))
    steps = {"decimated": 3, "stationary": 3 * lev, "cycle_spin": shifts * shifts}[transform] if lev else 1
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        report(progress, done, steps)

    rows = work.reshape(b * c, h, w)
    sigma_rows = sigmas.reshape(-1)
    if lev == 0:
        result = rows
        used = torch.zeros(b * c, 0, 3, dtype=torch.float64, device=x.device)
        tick()
    else:
        manual = (float(threshold) * channel_gain).repeat(b) if method == "manual" else None
        shrink_args = dict(
            sigma=sigma_rows, method=method, mode=mode, n_pixels=h * w, manual=manual, hybrid=sure_hybrid
        )
        if transform == "decimated":
            result, used = _denoise_decimated(rows, wavelet, lev, shrink_args)
            tick()
            tick()
            tick()
        elif transform == "stationary":
            result, used = _denoise_stationary(rows, wavelet, lev, shrink_args, tick)
        else:
            result, used = _denoise_cycle_spin(rows, wavelet, lev, shrink_args, shifts, tick)
        if method != "manual":
            # channels without measurable noise are returned as they are
            skip = sigma_rows <= 0
            result = torch.where(skip[:, None, None], rows, result)
            used = torch.where(skip[:, None, None], torch.zeros_like(used), used)
    result = result.reshape(b, c, h, w)
    if use_ycbcr:
        result = ycbcr_to_rgb(result)
    result = result.clamp(0.0, 1.0).to(dtype=x.dtype)
    if not return_info:
        return result
    sig_list = sigmas.cpu().tolist()
    used_list = used.reshape(b, c, lev, 3).cpu().tolist()
    infos = [
        WaveletInfo(
            channels=names,
            sigma=[float(v) for v in sig_list[i]],
            sigma_estimated=sigma is None,
            levels=lev,
            thresholds=[[tuple(lvl) for lvl in used_list[i][ch]] for ch in range(c)],
        )
        for i in range(b)
    ]
    return result, infos
