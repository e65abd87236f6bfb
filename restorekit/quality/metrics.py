"""Image quality measures: full-reference (PSNR, SSIM) and no-reference (noise, sharpness, …).

Every function takes core batches ``[B, C, H, W]`` (float in [0, 1], C = 1 or 3, any device)
and returns one value per image as a tensor ``[B]`` on the input's device. Computation is in
float32 (float64 inputs stay float64). Units are given per function.

Full-reference pairs follow one policy (:func:`prepare_pair`): the reference must have the
image's height and width; a reference batch of one is used for every image; when one side is
gray and the other RGB, both are compared on BT.601 luma (a gray image carries no colour to
compare, and luma of an RGB image with equal channels is that channel exactly).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..color import luma
from ..errors import InvalidImageError, InvalidParameterError
from ..image import check_image, match_batch, match_channels
from .noise import estimate_sigma

#: Gaussian window of Wang et al. (2004): 11 x 11 taps, standard deviation 1.5 px.
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03

#: Clipping thresholds on [0, 1] values: at or below half an 8-bit level, at or above 254.5/255.
CLIP_LOW = 0.5 / 255.0
CLIP_HIGH = 254.5 / 255.0


def _work_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _check_data_range(data_range: float) -> float:
    if (
        isinstance(data_range, bool)
        or not isinstance(data_range, (int, float))
        or not math.isfinite(data_range)
        or data_range <= 0
    ):
        raise InvalidParameterError(
            "data_range", f"must be a positive finite number, got {data_range!r}.", "use 1.0 for images in [0, 1]."
        )
    return float(data_range)


def prepare_pair(x: torch.Tensor, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate an image batch and its reference and bring them to a common shape.

    Returns ``(x, ref)`` with equal ``[B, C, H, W]`` shapes, on ``x``'s device, in the working
    dtype (float32, or float64 for float64 input). Raises :class:`InvalidImageError` when the
    sizes differ or the reference batch is neither 1 nor ``B``.
    """
    check_image(x, "image")
    check_image(ref, "reference")
    return _align_pair(x, ref)


def _align_pair(x: torch.Tensor, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`prepare_pair` without the value checks (for callers that validated already)."""
    if tuple(x.shape[-2:]) != tuple(ref.shape[-2:]):
        raise InvalidImageError(
            "reference",
            f"is {ref.shape[-1]}x{ref.shape[-2]} px (width x height) but the image is {x.shape[-1]}x{x.shape[-2]} px.",
            "give a reference of exactly the image's size (crop or resize one of them first).",
        )
    dtype = _work_dtype(x)
    ref = match_batch(ref.to(device=x.device, dtype=dtype), x.shape[0], "reference")
    x = x.to(dtype)
    channels = min(x.shape[1], ref.shape[1])
    return match_channels(x, channels), match_channels(ref, channels)


# ---- full reference --------------------------------------------------------------------------


def _mse(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return (x - ref).square().flatten(1).mean(dim=1)


def mse(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image ``[B]``, over all channels and pixels (image units squared)."""
    return _mse(*prepare_pair(x, ref))


def psnr(x: torch.Tensor, ref: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image ``[B]`` in dB: ``10 log10(data_range^2 / MSE)``.

    The MSE is taken over all channels and pixels of each image, on the values as given (no
    clipping, no 8-bit rounding). Identical images give ``+inf``; callers that need a finite
    number (JSON, node outputs) cap it themselves.
    """
    data_range = _check_data_range(data_range)
    return _psnr(*prepare_pair(x, ref), data_range)


def _psnr(x: torch.Tensor, ref: torch.Tensor, data_range: float) -> torch.Tensor:
    return 10.0 * torch.log10(data_range**2 / _mse(x, ref))


def _gaussian_taps(size: int, sigma: float) -> list[float]:
    r = (size - 1) // 2
    g = [math.exp(-0.5 * (t / sigma) ** 2) for t in range(-r, r + 1)]
    total = sum(g)
    return [v / total for v in g]


def _valid_window(n: int) -> int:
    """The SSIM window length along an axis of ``n`` pixels: 11, or the largest odd length that fits."""
    if n >= SSIM_WINDOW:
        return SSIM_WINDOW
    return n if n % 2 == 1 else n - 1


def _filter_valid(y: torch.Tensor, taps: list[float], dim: int) -> torch.Tensor:
    """Correlate ``y`` with ``taps`` along ``dim``, keeping only positions fully inside (no padding).

    Written as a sum of shifted slices rather than a convolution: as fast as a grouped
    convolution on the CPU, and exact float arithmetic on GPUs (cuDNN may run float32
    convolutions in TF32, whose 10-bit mantissa ruins ``E[x^2] - E[x]^2``).
    """
    n = y.shape[dim] - len(taps) + 1
    out = y.narrow(dim, 0, n) * taps[0]
    for k in range(1, len(taps)):
        out.add_(y.narrow(dim, k, n), alpha=taps[k])
    return out


def ssim_map(x: torch.Tensor, ref: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Local SSIM (Wang et al. 2004) ``[B, C, H - 10, W - 10]`` for each channel.

    Gaussian-weighted local statistics (11 x 11 window, sigma 1.5 px, population
    covariance), ``C1 = (0.01 R)^2``, ``C2 = (0.03 R)^2`` with ``R = data_range``. Only windows
    lying entirely inside the image are kept, so the map is smaller than the image by 5 px on
    each side; this equals scikit-image's ``structural_similarity(gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False)``, which filters the whole image and then drops
    that border. Along a side shorter than 11 px the window is shortened to the largest odd
    length that fits (down to one pixel), so every image size gives a value.
    """
    data_range = _check_data_range(data_range)
    return _ssim_map(*prepare_pair(x, ref), data_range)


def _ssim_map(x: torch.Tensor, ref: torch.Tensor, data_range: float) -> torch.Tensor:
    b, c, h, w = x.shape
    wh, ww = _valid_window(h), _valid_window(w)
    a = x.reshape(b * c, h, w)
    r = ref.reshape(b * c, h, w)
    stats = torch.cat([a, r, a * a, r * r, a * r], dim=0)
    stats = _filter_valid(_filter_valid(stats, _gaussian_taps(wh, SSIM_SIGMA), 1), _gaussian_taps(ww, SSIM_SIGMA), 2)
    mu_x, mu_y, e_xx, e_yy, e_xy = stats.chunk(5, dim=0)
    var_x = e_xx - mu_x * mu_x
    var_y = e_yy - mu_y * mu_y
    cov = e_xy - mu_x * mu_y
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))
    return s.view(b, c, *s.shape[-2:])


def ssim(x: torch.Tensor, ref: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Mean structural similarity per image ``[B]`` (1 = identical; can be negative).

    The mean of :func:`ssim_map` over pixels, then over channels for colour images (as
    scikit-image does with ``channel_axis``).
    """
    return ssim_map(x, ref, data_range=data_range).flatten(2).mean(dim=2).mean(dim=1)


# ---- no reference ----------------------------------------------------------------------------


def _luma(x: torch.Tensor) -> torch.Tensor:
    return luma(x.to(_work_dtype(x)))


def _noise_sigma(x: torch.Tensor) -> torch.Tensor:
    return estimate_sigma(x).mean(dim=1).to(_work_dtype(x))


def _laplacian_variance(y: torch.Tensor) -> torch.Tensor:
    y = y * 255.0
    h, w = y.shape[-2:]
    # Mirror without repeating the edge (OpenCV's BORDER_REFLECT_101); a 1-px side is repeated.
    y = F.pad(y, (0, 0, 1, 1), mode="reflect" if h > 1 else "replicate")
    y = F.pad(y, (1, 1, 0, 0), mode="reflect" if w > 1 else "replicate")
    # The 5-point stencil as shifted slices: exact float arithmetic on every device (no TF32 convolution).
    centre = y[..., 1:-1, 1:-1]
    lap = y[..., :-2, 1:-1] + y[..., 2:, 1:-1] + y[..., 1:-1, :-2] + y[..., 1:-1, 2:] - 4.0 * centre
    return lap.flatten(1).var(dim=1, correction=0)


def _clipping(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = x.flatten(1)
    dark = (flat <= CLIP_LOW).to(_work_dtype(x)).mean(dim=1) * 100.0
    bright = (flat >= CLIP_HIGH).to(_work_dtype(x)).mean(dim=1) * 100.0
    return dark, bright


def _entropy(y: torch.Tensor) -> torch.Tensor:
    b = y.shape[0]
    levels = (y.clamp(0.0, 1.0) * 255.0).round().long().flatten(1)
    offsets = torch.arange(b, device=y.device).view(b, 1) * 256
    counts = torch.bincount((levels + offsets).flatten(), minlength=256 * b).view(b, 256).to(y.dtype)
    p = counts / counts.sum(dim=1, keepdim=True)
    bits = -(torch.where(p > 0, p * torch.log2(p.clamp(min=1e-30)), torch.zeros_like(p))).sum(dim=1)
    return bits + 0.0  # turns -0.0 (a single grey level) into 0.0


def _colorfulness(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return torch.zeros(x.shape[0], device=x.device, dtype=_work_dtype(x))
    v = x.to(_work_dtype(x)) * 255.0
    rg = (v[:, 0] - v[:, 1]).flatten(1)
    yb = (0.5 * (v[:, 0] + v[:, 1]) - v[:, 2]).flatten(1)
    spread = torch.sqrt(rg.var(dim=1, correction=0) + yb.var(dim=1, correction=0))
    centre = torch.sqrt(rg.mean(dim=1) ** 2 + yb.mean(dim=1) ** 2)
    return spread + 0.3 * centre


def noise_sigma(x: torch.Tensor) -> torch.Tensor:
    """Estimated white-noise standard deviation per image ``[B]`` in image units ([0, 1]).

    The mean over channels of :func:`restorekit.quality.noise.estimate_sigma` (Donoho's
    wavelet MAD estimator). Multiply by 255 for 8-bit grey levels.
    """
    check_image(x, "image")
    return _noise_sigma(x)


def laplacian_variance(x: torch.Tensor) -> torch.Tensor:
    """Sharpness per image ``[B]``: variance of the 4-neighbour Laplacian of luma.

    Units: squared 8-bit grey levels (luma scaled to 0-255), so the figure equals OpenCV's
    ``cv2.Laplacian(gray, cv2.CV_64F).var()`` on the 8-bit gray image (mirrored borders).
    Higher means more fine detail; noise raises it too, so compare images of similar noise.
    A flat image gives 0.
    """
    check_image(x, "image")
    return _laplacian_variance(_luma(x))


def rms_contrast(x: torch.Tensor) -> torch.Tensor:
    """RMS contrast per image ``[B]``: standard deviation of luma, in [0, 1] units (0 = flat, max 0.5)."""
    check_image(x, "image")
    return _luma(x).flatten(1).std(dim=1, correction=0)


def mean_luma(x: torch.Tensor) -> torch.Tensor:
    """Mean brightness per image ``[B]``: mean BT.601 luma in [0, 1]."""
    check_image(x, "image")
    return _luma(x).flatten(1).mean(dim=1)


def clipping(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Clipped samples per image, as percentages ``(dark [B], bright [B])``.

    A sample (one channel of one pixel) counts as clipped dark when it is at or below
    0.5/255 and clipped bright at or above 254.5/255, i.e. it would round to 0 or 255 in 8 bits.
    Percentages are of all samples (pixels x channels).
    """
    check_image(x, "image")
    return _clipping(x)


def entropy(x: torch.Tensor) -> torch.Tensor:
    """Shannon entropy per image ``[B]`` of the 256-bin histogram of 8-bit luma, in bits (0 to 8)."""
    check_image(x, "image")
    return _entropy(_luma(x))


def colorfulness(x: torch.Tensor) -> torch.Tensor:
    """Colourfulness per image ``[B]`` (Hasler and Süsstrunk 2003), on 0-255 RGB values.

    ``M = sqrt(std(rg)^2 + std(yb)^2) + 0.3 sqrt(mean(rg)^2 + mean(yb)^2)`` with ``rg = R - G`` and
    ``yb = (R + G)/2 - B``. About 0 for gray, 15 "slightly", 33 "moderately", 59 "quite",
    82 "highly", 109 "extremely colourful" on their scale. Gray images give 0.
    """
    check_image(x, "image")
    return _colorfulness(x)


#: Units of the values returned by :func:`measure`, for reports.
UNITS = {
    "psnr": "dB",
    "ssim": "0-1",
    "noise_sigma": "0-255",
    "sharpness": "Laplacian variance, grey levels^2",
    "contrast": "RMS of luma, 0-1",
    "clip_dark": "% of samples",
    "clip_bright": "% of samples",
    "mean": "luma, 0-1",
    "entropy": "bits",
    "colorfulness": "Hasler-Susstrunk, 0-255 scale",
}


def measure(
    x: torch.Tensor, reference: torch.Tensor | None = None, *, data_range: float = 1.0
) -> dict[str, torch.Tensor]:
    """Every measure of this module for each image, as a dict of ``[B]`` tensors (units in :data:`UNITS`).

    Keys: ``noise_sigma`` (0-255 grey levels), ``sharpness``, ``contrast``, ``clip_dark``,
    ``clip_bright``, ``mean``, ``entropy``, ``colorfulness``; plus ``psnr`` (dB, ``inf`` for
    identical images) and ``ssim`` when a reference is given. The inputs are validated once.
    """
    check_image(x, "image")
    out: dict[str, torch.Tensor] = {}
    if reference is not None:
        data_range = _check_data_range(data_range)
        check_image(reference, "reference")
        a, r = _align_pair(x, reference)
        out["psnr"] = _psnr(a, r, data_range)
        out["ssim"] = _ssim_map(a, r, data_range).flatten(2).mean(dim=2).mean(dim=1)
    y = _luma(x)
    out["noise_sigma"] = _noise_sigma(x) * 255.0
    out["sharpness"] = _laplacian_variance(y)
    out["contrast"] = y.flatten(1).std(dim=1, correction=0)
    out["clip_dark"], out["clip_bright"] = _clipping(x)
    out["mean"] = y.flatten(1).mean(dim=1)
    out["entropy"] = _entropy(y)
    out["colorfulness"] = _colorfulness(x)
    return out
