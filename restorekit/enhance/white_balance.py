"""Automatic white balance: estimate the scene illuminant, then divide it out in linear light.

A colour cast is (to a good approximation) a per-channel scaling of the light reaching the
sensor, so it must be undone where light adds linearly: on linear-light RGB, not on the
gamma-encoded sRGB values (per-channel gains on encoded values also change the tone curve and
leave a residual cast in shadows or highlights). The correction is a von Kries-type diagonal
transform applied in linear sRGB: ``out = x_lin * Y(e) / e`` per channel, where ``e`` is the
estimated illuminant and ``Y(e)`` its luminance, so the illuminant becomes a neutral grey of the
same luminance and the exposure is kept (colour is corrected, brightness is not changed).

Estimators (per image of the batch):

- ``gray_world``: the scene averages to grey, so the illuminant is the mean linear RGB
  (Buchsbaum, 1980).
- ``white_patch``: the brightest surfaces are white, so the illuminant is a high percentile of
  each linear channel (a robust "max-RGB", Land's retinex white patch). Pixels with a clipped
  channel (sRGB >= 0.995) are left out: they show the sensor's limit, not the light's colour.
  The percentile also ignores a few bright outliers.

Colours the gains push outside sRGB are brought back by reducing chroma at constant Oklab
lightness and hue (:func:`restorekit.color.gamut_map_oklab`), so no channel is clipped.
"""

from __future__ import annotations

import math

import torch

from ..color import gamut_map_oklab, linear_rgb_to_oklab, linear_to_srgb, srgb_to_linear
from ..errors import InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report

METHODS = ("none", "gray_world", "white_patch")
# Luminance weights of linear sRGB (the Y row of the sRGB -> XYZ matrix).
_LUMINANCE = (0.2126729, 0.7151522, 0.0721750)
# A pixel with any sRGB channel at or above this is taken as clipped (left out of white_patch).
CLIP_LEVEL = 0.995
# Gains are limited to this factor either way, so a scene of one strong colour is not turned grey.
MAX_GAIN = 4.0
# White-patch statistics are taken on an area-averaged copy of at most about this many pixels.
_STAT_PIXELS = 1 << 18


def _check_method(method: str, allowed: tuple[str, ...] = METHODS) -> None:
    if method not in allowed:
        raise InvalidParameterError(
            "white_balance", f"expected one of {', '.join(allowed)}, got {method!r}.", "give e.g. gray_world."
        )


def _check_percentile(percentile: float) -> None:
    ok = not isinstance(percentile, bool) and isinstance(percentile, (int, float)) and math.isfinite(percentile)
    if not ok or not 50.0 <= percentile <= 100.0:
        raise InvalidParameterError(
            "white_percentile",
            f"expected a percentage in [50, 100], got {percentile!r}.",
            "give e.g. 99 (100 = the brightest unclipped pixel).",
        )


def _masked_percentile(values: torch.Tensor, valid: torch.Tensor, q: float) -> torch.Tensor:
    """Per row of ``values`` ``[R, N]``, the ``q``-th percentile (linear interpolation) of the entries
    where ``valid``; rows with no valid entry use all of them."""
    valid = valid | ~valid.any(dim=1, keepdim=True)
    ordered = torch.where(valid, values, torch.full_like(values, math.inf)).sort(dim=1).values
    count = valid.sum(dim=1, keepdim=True)
    pos = (count - 1).to(values.dtype) * (q / 100.0)
    lo = pos.floor().long()
    hi = torch.minimum(lo + 1, count - 1)
    frac = pos - lo.to(values.dtype)
    v_lo, v_hi = ordered.gather(1, lo), ordered.gather(1, hi)
    return (v_lo + frac * (v_hi - v_lo)).squeeze(1)


def _estimate(x: torch.Tensor, linear: torch.Tensor, method: str, percentile: float) -> torch.Tensor:
    b = x.shape[0]
    if method == "gray_world":
        return linear.mean(dim=(2, 3))
    clipped = (x.amax(dim=1, keepdim=True) >= CLIP_LEVEL).to(linear.dtype)
    h, w = x.shape[-2:]
    k = max(1, math.ceil(math.sqrt(h * w / _STAT_PIXELS)))
    if k > 1 and h >= k and w >= k:
        # Area averages of k x k blocks: fewer values to sort and less pixel noise in the estimate;
        # a block with any clipped pixel counts as clipped.
        linear = torch.nn.functional.avg_pool2d(linear, k)
        clipped = torch.nn.functional.max_pool2d(clipped, k)
    values = linear.reshape(b * 3, -1)
    valid = (clipped.reshape(b, 1, -1) == 0).expand(b, 3, -1).reshape(b * 3, -1)
    return _masked_percentile(values, valid, float(percentile)).view(b, 3)


def estimate_illuminant(x: torch.Tensor, *, method: str = "gray_world", percentile: float = 99.0) -> torch.Tensor:
    """The illuminant colour of each image of an RGB batch ``x`` ``[B, 3, H, W]`` (sRGB in [0, 1]).

    Args:
        method: ``gray_world`` (mean linear RGB) or ``white_patch`` (the ``percentile``-th
            percentile of each linear channel over the pixels with no clipped channel).
        percentile: for ``white_patch``, in [50, 100] percent.

    Returns:
        ``[B, 3]`` linear-light RGB of the illuminant (its scale is the estimate's brightness; only
        its direction, the colour, is used for the correction), in ``x``'s float dtype (float32
        for half precision).
    """
    check_image(x, "image")
    _check_method(method, ("gray_world", "white_patch"))
    _check_percentile(percentile)
    if x.shape[1] != 3:
        raise InvalidParameterError("image", "an illuminant colour needs an RGB image, got a gray one.", None)
    xf = x.to(torch.float64 if x.dtype == torch.float64 else torch.float32)
    return _estimate(xf, srgb_to_linear(xf), method, percentile)


def white_balance_gains(illuminant: torch.Tensor) -> torch.Tensor:
    """Per-channel linear gains ``[B, 3]`` that turn ``illuminant`` ``[B, 3]`` (linear RGB) into a neutral
    of the same luminance: ``Y(e) / e``, each limited to [1/4, 4]; 1 for a black illuminant."""
    weights = torch.tensor(_LUMINANCE, device=illuminant.device, dtype=illuminant.dtype)
    lum = (illuminant * weights).sum(dim=1, keepdim=True)
    gains = lum / illuminant.clamp(min=1e-12)
    gains = gains.clamp(1.0 / MAX_GAIN, MAX_GAIN)
    return torch.where(lum > 1e-9, gains, torch.ones_like(gains))


def apply_white_balance(
    x: torch.Tensor, method: str, percentile: float
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """``(linear, illuminant, gains)`` for an RGB batch in the working dtype: the linear-light image with
    the gains applied (not gamut-mapped yet, may leave [0, 1]), and the estimate and gains ``[B, 3]``
    (None for ``method="none"``). Shared with :mod:`restorekit.enhance.color_enhance`."""
    linear = srgb_to_linear(x)
    if method == "none":
        return linear, None, None
    illuminant = _estimate(x, linear, method, percentile)
    gains = white_balance_gains(illuminant)
    return linear * gains.view(-1, 3, 1, 1), illuminant, gains


def white_balance(
    x: torch.Tensor,
    *,
    method: str = "gray_world",
    percentile: float = 99.0,
    clamp: bool = True,
    return_info: bool = False,
    progress: ProgressCallback | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """White-balance a batch ``x`` ``[B, C, H, W]`` (sRGB in [0, 1]) by per-channel gains in linear light.

    Each image's illuminant is estimated (see :func:`estimate_illuminant`) and mapped to a neutral of
    the same luminance; colours pushed outside sRGB are gamut-mapped (chroma reduced at constant
    Oklab L and hue). Gray images (C = 1) and ``method="none"`` are returned unchanged.

    Args:
        method: ``gray_world``, ``white_patch`` or ``none``.
        percentile: ``white_patch`` percentile, in [50, 100] percent.
        clamp: clip to [0, 1] (default; removes only float rounding, the result is in gamut).
        return_info: also return the illuminants and gains ``[B, 3]`` (None for gray / ``none``).

    Returns:
        The balanced batch, same shape, dtype and device (with ``return_info``, a tuple
        ``(image, illuminant, gains)``).
    """
    check_image(x, "image")
    _check_method(method)
    _check_percentile(percentile)
    report(progress, 0, 1)
    if x.shape[1] == 1 or method == "none":
        report(progress, 1, 1)
        out = x.clone()
        return (out, None, None) if return_info else out
    xf = x.to(torch.float64 if x.dtype == torch.float64 else torch.float32)
    linear, illuminant, gains = apply_white_balance(xf, method, percentile)
    linear, _ = gamut_map_oklab(linear_rgb_to_oklab(linear))
    out = linear_to_srgb(linear)
    if clamp:
        out = out.clamp(0.0, 1.0)
    out = out.to(x.dtype)
    report(progress, 1, 1)
    return (out, illuminant, gains) if return_info else out
