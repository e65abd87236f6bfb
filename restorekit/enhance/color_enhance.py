"""Colour enhancement in Oklab: white balance, vibrance and saturation with skin-tone protection.

Steps, per image of the batch (all batched torch, any device):

1. Optional white balance in linear light (:mod:`restorekit.enhance.white_balance`): per-channel
   gains on linear sRGB that turn the estimated illuminant into a neutral of the same luminance.
2. Conversion to Oklab (B. Ottosson, "A perceptual color space for image processing", 2020),
   where equal steps of chroma look alike across hues, unlike CIELAB's blue/purple shift, and
   changing chroma at constant L and hue keeps lightness and hue as seen.
3. A chroma gain ``g = (1 + saturation) * (1 + vibrance * (1 - min(C / 0.32, 1))^2)``: saturation
   scales every chroma alike; vibrance boosts muted colours most and leaves colours near the
   sRGB limit (chroma about 0.32) nearly alone. Skin-tone protection scales the *boost* part of
   the gain (``g - 1`` where ``g > 1``) by ``1 - skin_protection * w_skin``, with ``w_skin`` a
   smooth weight around the skin hue band (OkLCh hue 50 deg, about 20 deg wide, chroma up to
   0.10 fading out by 0.18); reductions of chroma apply to skin too.
4. Gamut mapping: colours the gain pushes outside sRGB get their chroma reduced at constant L
   and hue until they fit (:func:`restorekit.color.gamut_map_oklab`, fixed bisection), so no
   channel is clipped and hues do not shift.
5. Blend with the input by ``strength`` (in sRGB; a blend of two in-gamut colours is in gamut).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..color import (
    correlated_color_temperature,
    delta_e_ok,
    gamut_map_oklab,
    linear_rgb_to_oklab,
    linear_to_srgb,
    rgb_to_oklab,
)
from ..errors import InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report
from .white_balance import METHODS, _check_method, _check_percentile, apply_white_balance

#: Chroma at which vibrance stops boosting: about the largest Oklab chroma inside sRGB.
VIBRANCE_CHROMA = 0.32
#: Centre and width of the skin hue band in OkLCh (degrees); ColorChecker skins lie at 44-46 deg.
SKIN_HUE_DEG = 50.0
SKIN_HUE_WIDTH_DEG = 20.0
#: Skin chroma range: full protection up to the first value, none from the second on.
SKIN_CHROMA = (0.10, 0.18)
#: A pixel counts as gamut-mapped in the report when its chroma was cut by more than this fraction.
MAPPED_FRACTION = 1e-3


@dataclass(frozen=True)
class ColorEnhanceInfo:
    """What :func:`color_enhance` did, per image (``[B]`` or ``[B, 3]`` tensors; None where not applicable).

    ``illuminant``: estimated illuminant, linear RGB (None without white balance or for gray input);
    ``cct``: its correlated colour temperature in kelvin (McCamy); ``gains``: the linear gains applied;
    ``delta_e``: mean ΔE_OK between input and output; ``chroma_change``: mean Oklab chroma change
    (output - input); ``gamut_mapped``: number of pixels whose chroma the gamut mapping cut by more than
    0.1 %; ``pixels``: pixels per image; ``gray``: the input was gray and was returned unchanged.
    """

    illuminant: torch.Tensor | None
    cct: torch.Tensor | None
    gains: torch.Tensor | None
    delta_e: torch.Tensor
    chroma_change: torch.Tensor
    gamut_mapped: torch.Tensor
    pixels: int
    gray: bool


def _check_number(name: str, value: float, lo: float, hi: float, fix: str) -> None:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not ok or not lo <= value <= hi:
        raise InvalidParameterError(name, f"expected a number in [{lo:g}, {hi:g}], got {value!r}.", fix)


def skin_weight(lab: torch.Tensor, chroma: torch.Tensor | None = None) -> torch.Tensor:
    """Skin-tone weight ``[B, 1, H, W]`` in [0, 1] of Oklab colours: 1 in the skin band, falling smoothly.

    Hue term ``exp(-(1 - cos(h - h_skin)) / w^2)`` (a Gaussian of width ``w`` in the hue difference
    for small differences, periodic in hue) times a chroma term that is 1 up to chroma 0.10 and
    falls by a smoothstep to 0 at 0.18 (saturated oranges and reds are not skin). ``chroma``: the
    colours' chroma ``[B, 1, H, W]`` when already computed.
    """
    a, b = lab[:, 1:2], lab[:, 2:3]
    if chroma is None:
        chroma = torch.hypot(a, b)
    h0 = math.radians(SKIN_HUE_DEG)
    cos_dh = (a * math.cos(h0) + b * math.sin(h0)) / chroma.clamp(min=1e-12)
    hue_term = torch.exp((cos_dh - 1.0) / math.radians(SKIN_HUE_WIDTH_DEG) ** 2)
    s = ((chroma - SKIN_CHROMA[0]) / (SKIN_CHROMA[1] - SKIN_CHROMA[0])).clamp(0.0, 1.0)
    return hue_term * (1.0 - s * s * (3.0 - 2.0 * s))


def chroma_gain(lab: torch.Tensor, *, vibrance: float, saturation: float, skin_protection: float) -> torch.Tensor:
    """The chroma factor ``[B, 1, H, W]`` (>= 0) of Oklab colours ``lab`` (see the module docstring, step 3)."""
    chroma = torch.hypot(lab[:, 1:2], lab[:, 2:3])
    taper = (1.0 - chroma / VIBRANCE_CHROMA).clamp(min=0.0).square()
    gain = (1.0 + saturation) * (1.0 + vibrance * taper)
    if skin_protection > 0:
        keep = 1.0 - skin_protection * skin_weight(lab, chroma)
        gain = torch.where(gain > 1.0, 1.0 + (gain - 1.0) * keep, gain)
    return gain


def _statistics(
    x: torch.Tensor, out: torch.Tensor, scale: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    lab_in, lab_out = rgb_to_oklab(x), rgb_to_oklab(out)
    delta_e = delta_e_ok(lab_in, lab_out).mean(dim=(1, 2, 3))
    chroma_in = torch.hypot(lab_in[:, 1], lab_in[:, 2])
    chroma_out = torch.hypot(lab_out[:, 1], lab_out[:, 2])
    chroma_change = (chroma_out - chroma_in).mean(dim=(1, 2))
    mapped = (
        torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        if scale is None
        else (scale < 1.0 - MAPPED_FRACTION).sum(dim=(1, 2, 3))
    )
    return delta_e, chroma_change, mapped


def color_enhance(
    x: torch.Tensor,
    *,
    vibrance: float = 0.3,
    saturation: float = 0.0,
    skin_protection: float = 0.8,
    white_balance: str = "none",
    white_percentile: float = 99.0,
    strength: float = 1.0,
    clamp: bool = True,
    return_info: bool = False,
    progress: ProgressCallback | None = None,
) -> torch.Tensor | tuple[torch.Tensor, ColorEnhanceInfo]:
    """Vibrance, saturation and white balance of a batch ``x`` ``[B, C, H, W]`` (sRGB in [0, 1]) in Oklab.

    Args:
        vibrance: -1..1. Boost (or, negative, mute) of chroma, strongest for muted colours: a colour
            of chroma C gets ``1 + vibrance * (1 - C / 0.32)^2`` times its chroma. 0 = none.
        saturation: -1..1. Uniform chroma factor ``1 + saturation`` (-1 = grey, 0 = none, 1 = double).
        skin_protection: 0..1. How much less skin-coloured pixels are boosted: the boost of a pixel
            in the centre of the skin band is multiplied by ``1 - skin_protection``.
        white_balance: ``none``, ``gray_world`` or ``white_patch``, applied first, in linear light
            (see :mod:`restorekit.enhance.white_balance`).
        white_percentile: percentile for ``white_patch``, 50..100 percent.
        strength: 0..1, blend of the result with the input (0 returns the input exactly).
        clamp: clip the result to [0, 1] (default). Gamut mapping already keeps it in [0, 1] up to
            float rounding (1e-6); ``False`` returns the raw values.
        return_info: also return a :class:`ColorEnhanceInfo`.
        progress: optional callback, called with (done, total) = (0, 1) and (1, 1).

    Gray images (C = 1) are returned unchanged: colour operations do not apply to them.

    Returns:
        The enhanced batch, same shape, dtype and device as ``x`` (and the info with ``return_info``).
    """
    check_image(x, "image")
    _check_number("vibrance", vibrance, -1.0, 1.0, "give e.g. 0.3 (0 = no change).")
    _check_number("saturation", saturation, -1.0, 1.0, "give e.g. 0.1 (0 = no change, -1 = gray).")
    _check_number("skin_protection", skin_protection, 0.0, 1.0, "give e.g. 0.8 (0 = off).")
    _check_method(white_balance, METHODS)
    _check_percentile(white_percentile)
    _check_number("strength", strength, 0.0, 1.0, "give a blend between 0 (unchanged) and 1 (full effect).")
    report(progress, 0, 1)
    b = x.shape[0]
    pixels = x.shape[2] * x.shape[3]

    def no_change(gray: bool) -> torch.Tensor | tuple[torch.Tensor, ColorEnhanceInfo]:
        report(progress, 1, 1)
        out = x.clone()
        if not return_info:
            return out
        zeros = torch.zeros(b, dtype=torch.float32, device=x.device)
        info = ColorEnhanceInfo(None, None, None, zeros, zeros.clone(), zeros.long(), pixels, gray)
        return out, info

    if x.shape[1] == 1:
        return no_change(True)
    if strength == 0:
        return no_change(False)
    xf = x.to(torch.float64 if x.dtype == torch.float64 else torch.float32)
    linear, illuminant, gains = apply_white_balance(xf, white_balance, white_percentile)
    lab = linear_rgb_to_oklab(linear)
    gain = chroma_gain(lab, vibrance=vibrance, saturation=saturation, skin_protection=skin_protection)
    lab = torch.cat([lab[:, :1], lab[:, 1:] * gain], dim=1)
    linear, scale = gamut_map_oklab(lab)
    out = linear_to_srgb(linear)
    if strength < 1:
        out = torch.lerp(xf, out, float(strength))
    if clamp:
        out = out.clamp(0.0, 1.0)
    result = out.to(x.dtype)
    report(progress, 1, 1)
    if not return_info:
        return result
    delta_e, chroma_change, mapped = _statistics(xf, out.clamp(0.0, 1.0), scale)
    cct = None if illuminant is None else correlated_color_temperature(illuminant)
    info = ColorEnhanceInfo(illuminant, cct, gains, delta_e, chroma_change, mapped, pixels, False)
    return result, info
