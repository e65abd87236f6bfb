"""Smart Sharpen: edge- and noise-aware unsharp masking with overshoot limiting and an automatic amount.

For the luminance ``Y`` (BT.601 luma of RGB, or each channel) of every image:

1. **Blur measurement** (re-blur method, after Hu & de Haan 2006). A Gaussian edge of blur
   ``s`` has a peak gradient proportional to ``1 / s``; blurring it again by ``s_r`` lowers the peak to
   ``1 / sqrt(s^2 + s_r^2)``. The ratio ``R`` of the two gradient magnitudes at edge pixels
   (local maxima of the gradient, well above the noise) gives ``s^2 = s_r^2 / (R^2 - 1) - s_0^2``,
   ``s_0^2`` the variance the discrete derivative itself adds. The per-image blur is the
   gradient-weighted mean over edge pixels (1 px where no edge is found).
2. **Detail**: ``D = Y - G_r * Y``, a Gaussian of radius ``r`` = the measured blur (0.6-3 px) unless given.
3. **Noise gate**: the local standard deviation ``s_loc`` of ``Y`` (5 x 5 window) against the noise
   sigma ``n`` (estimated with :func:`restorekit.quality.noise.estimate_sigma`, or given): the gain
   rises smoothly (smoothstep) from 0 at ``s_loc = t n`` to 1 at ``2 t n``, ``t`` = ``noise_gate``.
   White noise has ``s_loc ~ n`` and is left alone; edges and texture well above the noise are sharpened.
4. **Amount**: automatic, ``amount = clamp(1.5 * r, 1, 4)`` (blurrier images need more), or given.
5. **Overshoot limit**: the result is clamped to the range of ``Y`` in the 5 x 5 window around the pixel,
   widened by ``halo_limit`` times that range. The unsharp mask's overshoot (its halo) is what the
   clamp removes, while the steepening of the edge inside the local range is kept.

The change of ``Y`` is added to R, G and B (colours kept) unless ``luminance_only`` is off.
Everything is batched torch: separable Gaussian blurs, avg/max pooling, per-image reductions; the
per-image numbers (blur, amount, noise, measured noise gain and overshoot) come back with
``return_info=True`` for the report.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..color import luma
from ..errors import InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report
from ..quality.noise import estimate_sigma
from .guided import box_mean
from .unsharp import gaussian_blur

MAX_RADIUS = 10.0
MAX_AMOUNT = 5.0
_REBLUR = 2.0  # sigma (px) of the re-blur used to measure the blur
_DERIVATIVE_VAR = 0.33  # variance (px^2) the central difference adds to an edge's blur (calibrated on steps)
_EDGE_SNR = 6.0  # edge pixels for the blur measurement: gradient above this many noise sigmas
_NOISE_FLOOR = 0.5 / 255  # smallest noise sigma used by the gate (clean images)
_WINDOW = 2  # radius (px) of the local-std and local-range windows (5 x 5)
AUTO_RADIUS = (0.6, 3.0)
AUTO_AMOUNT = (1.0, 4.0)
AMOUNT_PER_PX = 1.5


def _number(name: str, value: object, lo: float, hi: float, fix: str, *, allow_none: bool = False,
            open_low: bool = False) -> None:
    if value is None and allow_none:
        return
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if ok:
        ok = (lo < value if open_low else lo <= value) and value <= hi
    if not ok:
        bound = "(" if open_low else "["
        raise InvalidParameterError(name, f"expected a number in {bound}{lo:g}, {hi:g}], got {value!r}.", fix)


def _gradient(y: torch.Tensor) -> torch.Tensor:
    """Central-difference gradient magnitude (edge-replicated borders)."""
    p = F.pad(y, (1, 1, 1, 1), mode="replicate")
    gx = 0.5 * (p[..., 1:-1, 2:] - p[..., 1:-1, :-2])
    gy = 0.5 * (p[..., 2:, 1:-1] - p[..., :-2, 1:-1])
    return torch.sqrt(gx * gx + gy * gy)


def _local_max(t: torch.Tensor, radius: int) -> torch.Tensor:
    k = 2 * radius + 1
    t = F.max_pool2d(t, (1, k), stride=1, padding=(0, radius))
    return F.max_pool2d(t, (k, 1), stride=1, padding=(radius, 0))


def measure_blur(y: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Gaussian blur sigma (px) of the edges of each image of ``y`` ``[B, C, H, W]``, ``[B]``.

    ``noise`` ``[B]``: noise sigma, used to keep only edges well above it. 1.0 where no edge is found.
    """
    g0 = _gradient(y)
    g1 = _gradient(gaussian_blur(y, _REBLUR))
    floor = (_EDGE_SNR * noise.clamp_min(_NOISE_FLOOR)).view(-1, 1, 1, 1)
    edge = (g0 >= _local_max(g0, 1)) & (g0 > floor) & (g1 > 0)
    ratio2 = (g0 / g1.clamp_min(1e-12)).square().clamp_min(1.0 + 1e-3)
    var = (_REBLUR**2 / (ratio2 - 1.0) - _DERIVATIVE_VAR).clamp(0.0, 100.0)
    weight = torch.where(edge, g0, torch.zeros_like(g0)).flatten(1)
    total = weight.sum(dim=1)
    mean_var = (weight * var.flatten(1)).sum(dim=1) / total.clamp_min(1e-12)
    return torch.where(total > 0, mean_var.sqrt(), torch.ones_like(total))


def smart_sharpen(
    x: torch.Tensor,
    *,
    amount: float | None = None,
    radius: float | None = None,
    sigma: float | None = None,
    noise_gate: float = 2.0,
    halo_limit: float = 0.01,
    luminance_only: bool = True,
    progress: ProgressCallback | None = None,
    return_info: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Edge- and noise-aware sharpening of ``x`` ``[B, C, H, W]`` (C = 1 or 3, sRGB in [0, 1]).

    Args:
        amount: strength 0-5 (0 = unchanged); ``None`` = automatic from the measured blur.
        radius: Gaussian sigma (px) of the detail, (0, 10]; ``None`` = the measured blur, clamped to 0.6-3 px.
        sigma: noise standard deviation in [0, 1] units; ``None`` = estimated per image.
        noise_gate: detail whose local standard deviation is below this many noise sigmas is left alone
            (fully sharpened from twice that). 0 disables the gate.
        halo_limit: how far (fraction of the local 5 x 5 range) the result may go beyond that range, 0-1.
            0.01 = 1 % overshoot at most; 1 = hardly limited.
        luminance_only: RGB: sharpen luma and keep the colours (the same change is added to R, G and B).
        return_info: also return per-image tensors ``[B]``: ``blur``, ``radius``, ``amount``, ``noise``
            (noise sigma used), ``noise_gain`` (estimated noise after / before) and ``overshoot`` (largest
            excursion beyond the input's local 5 x 5 range, as a fraction of that range, where it is
            above 4 noise sigmas).

    Returns:
        The sharpened batch in [0, 1], same shape, dtype and device (and the info dict if asked).
    """
    check_image(x, "image")
    _number("amount", amount, 0.0, MAX_AMOUNT, "give e.g. 2, 0 for no change, or None for automatic.",
            allow_none=True)
    _number("radius", radius, 0.0, MAX_RADIUS, "give the detail size in pixels, e.g. 1.0, or None for automatic.",
            allow_none=True, open_low=True)
    _number("sigma", sigma, 0.0, 1.0, "give the noise std in [0, 1] units (e.g. 5/255) or None to estimate it.",
            allow_none=True)
    _number("noise_gate", noise_gate, 0.0, 20.0, "give e.g. 2 (noise sigmas), 0 to sharpen noise too.")
    _number("halo_limit", halo_limit, 0.0, 1.0, "give e.g. 0.01 (1 % of the local contrast).")
    if not isinstance(luminance_only, bool):
        raise InvalidParameterError("luminance_only", f"expected true/false, got {luminance_only!r}.", None)
    total = x.shape[0]
    report(progress, 0, total)
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    xf = x.to(work)
    y = luma(xf) if luminance_only and x.shape[1] == 3 else xf
    b, c = y.shape[:2]

    noise = estimate_sigma(y).to(work) if sigma is None else torch.full((b, c), float(sigma), device=x.device,
                                                                          dtype=work)
    noise_img = noise.mean(dim=1)
    blur = measure_blur(y, noise_img)
    if radius is None:
        r_img = blur.clamp(*AUTO_RADIUS)
    else:
        r_img = torch.full_like(blur, float(radius))
    if amount is None:
        a_img = (AMOUNT_PER_PX * r_img).clamp(*AUTO_AMOUNT)
    else:
        a_img = torch.full_like(blur, float(amount))

    detail = _detail(y, r_img)

    if noise_gate > 0:
        mean = box_mean(y, _WINDOW)
        local_std = (box_mean(y * y, _WINDOW) - mean * mean).clamp_min(0.0).sqrt()
        t0 = noise_gate * noise.clamp_min(_NOISE_FLOOR)[..., None, None]
        s = ((local_std - t0) / t0).clamp(0.0, 1.0)
        detail = detail * (s * s * (3.0 - 2.0 * s))

    sharpened = y + a_img.view(-1, 1, 1, 1) * detail
    hi = _local_max(y, _WINDOW)
    lo = -_local_max(-y, _WINDOW)
    slack = halo_limit * (hi - lo)
    sharpened = torch.minimum(torch.maximum(sharpened, lo - slack), hi + slack)
    out = (xf + (sharpened - y)).clamp(0.0, 1.0)
    report(progress, total, total)
    out = out.to(x.dtype)
    if not return_info:
        return out
    y_out = luma(out.to(work)) if luminance_only and x.shape[1] == 3 else out.to(work)
    noise_after = estimate_sigma(y_out).to(work).mean(dim=1)
    strong = (hi - lo) > 4.0 * noise.clamp_min(_NOISE_FLOOR)[..., None, None]
    excursion = torch.maximum(y_out - hi, lo - y_out).clamp_min(0.0) / (hi - lo).clamp_min(1e-12)
    overshoot = torch.where(strong, excursion, torch.zeros_like(excursion)).flatten(1).amax(dim=1)
    info = {
        "blur": blur, "radius": r_img, "amount": a_img, "noise": noise_img,
        "noise_gain": noise_after / noise_img.clamp_min(1e-12), "overshoot": overshoot,
    }
    return out, info


def _detail(y: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """``y - G_r * y`` with a Gaussian radius ``r`` per image (``radii`` ``[B]``)."""
    values = sorted(set(radii.tolist()))
    if len(values) == 1:
        return y - gaussian_blur(y, values[0])
    # Several images with different radii: blur at each distinct radius (a handful at most in a
    # batch) and pick per image; the list is over radii, not pixels.
    out = torch.empty_like(y)
    for r in values:
        sel = radii == r
        out[sel] = y[sel] - gaussian_blur(y[sel], r)
    return out
