"""Where and by how much two images differ: an amplified signed residual, a heat map, and figures.

:func:`difference` compares ``a`` with ``b`` (``d = a - b``, in [0, 1] units):

- the *signed* image is ``0.5 + gain * d`` (mid-grey where equal, brighter where ``a`` is brighter),
  per channel or on luma;
- the *heat map* colours ``|d|`` (the largest over channels, or luma's) from dark (0) to bright
  (full scale) with a perceptually ordered colour map built in Oklab: lightness rises linearly
  along the map, so brighter always means a larger difference, also in gray print;
- the full scale ``D = 0.5 / gain`` is one figure for both: a difference of ``D`` reaches black or
  white in the signed image and the top of the colour map. With automatic gain ``D`` is the 99th
  percentile of ``|d|`` of each image, so a few outliers do not flatten the picture.

Figures per image: full scale, gain, mean and maximum ``|d|`` in 0-255 grey levels, PSNR of ``a``
against ``b`` in dB. Optionally a scale bar (the colour ramp and "0 - D grey levels") is drawn
into the bottom of the heat map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import torch

from ..color import gamut_map_oklab, linear_to_srgb, luma
from ..errors import InvalidImageError, InvalidParameterError
from ..image import check_image, from_numpy, match_batch, match_channels
from ..progress import ProgressCallback, report

CHANNEL_MODES = ("per_channel", "luma")
COLORMAPS = ("fire", "aurora", "gray")
#: The percentile of ``|d|`` that automatic gain maps to full scale.
AUTO_PERCENTILE = 99.0
MAX_GAIN = 10_000.0
LUT_SIZE = 1024
#: Lightness (Oklab L) at the two ends of the colour maps.
_L_RANGE = (0.16, 0.96)
# Hue path (degrees, Oklab) and peak chroma of each map: fire runs purple -> red -> orange -> yellow,
# aurora blue -> teal -> green -> yellow.
_HUES = {"fire": (300.0, 460.0, 0.17), "aurora": (270.0, 105.0, 0.13)}


@dataclass
class DifferenceResult:
    """What :func:`difference` returns; figures are per image ``[B]`` float tensors on the input's device.

    ``signed``: ``[B, C, H, W]`` (C = 1 in luma mode). ``heat``: ``[B, 3, H, W]`` (1 channel for the
    ``gray`` map). ``full_scale``: the ``|d|`` that reaches full scale, [0, 1] units. ``gain``:
    ``0.5 / full_scale``. ``mean_abs``, ``max_abs``: mean and largest ``|d|`` over channels and
    pixels, [0, 1] units. ``psnr``: dB (``inf`` for identical images).
    """

    signed: torch.Tensor
    heat: torch.Tensor
    full_scale: torch.Tensor
    gain: torch.Tensor
    mean_abs: torch.Tensor
    max_abs: torch.Tensor
    psnr: torch.Tensor


@cache
def _lut_cpu(name: str) -> torch.Tensor:
    """``[LUT_SIZE, 3]`` float64 sRGB ramp of a colour map (``[LUT_SIZE, 1]`` for gray)."""
    t = torch.linspace(0.0, 1.0, LUT_SIZE, dtype=torch.float64)
    lightness = _L_RANGE[0] + (_L_RANGE[1] - _L_RANGE[0]) * t
    if name == "gray":
        # The same lightness ramp as the colour maps, as a neutral sRGB grey.
        return linear_to_srgb(lightness.pow(3)).unsqueeze(1)
    h0, h1, peak = _HUES[name]
    hue = torch.deg2rad(h0 + (h1 - h0) * t)
    # Chroma rises from a dark near-neutral, peaks in the middle and eases off towards the bright end.
    chroma = peak * torch.sin(math.pi * (0.08 + 0.84 * t)).clamp(min=0.0)
    lab = torch.stack([lightness, chroma * torch.cos(hue), chroma * torch.sin(hue)]).view(1, 3, 1, LUT_SIZE)
    linear, _ = gamut_map_oklab(lab, steps=24)
    return linear_to_srgb(linear.clamp(0.0, 1.0))[0, :, 0].t().contiguous()


def colormap(values: torch.Tensor, name: str = "fire") -> torch.Tensor:
    """Map ``values`` ``[B, 1, H, W]`` in [0, 1] (clamped) to colours ``[B, 3, H, W]`` (``[B, 1, H, W]`` for gray).

    The maps (``fire``, ``aurora``, ``gray``) have Oklab lightness rising linearly from 0.16 to 0.96;
    interpolation between the 1024 entries is linear.
    """
    if name not in COLORMAPS:
        raise InvalidParameterError("colormap", f"unknown colour map {name!r}.", f"use one of {', '.join(COLORMAPS)}.")
    lut = _lut_cpu(name).to(device=values.device, dtype=values.dtype)
    pos = values.clamp(0.0, 1.0).squeeze(1) * (LUT_SIZE - 1)
    lo = pos.floor().long().clamp(max=LUT_SIZE - 2)
    frac = (pos - lo).unsqueeze(-1)
    out = torch.lerp(lut[lo], lut[lo + 1], frac)  # [B, H, W, K]
    return out.permute(0, 3, 1, 2).contiguous()


def _percentile(m: torch.Tensor, q: float) -> torch.Tensor:
    """The ``q``-th percentile (nearest rank) of each row of ``m`` ``[B, N]``."""
    k = min(m.shape[1], max(1, math.ceil(q / 100.0 * m.shape[1])))
    return m.kthvalue(k, dim=1).values


def _pair(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    check_image(a, "image_a")
    check_image(b, "image_b")
    if tuple(a.shape[-2:]) != tuple(b.shape[-2:]):
        raise InvalidImageError(
            "image_b", f"is {b.shape[-1]}x{b.shape[-2]} px but image_a is {a.shape[-1]}x{a.shape[-2]} px.",
            "compare images of the same size (crop or resize one first).",
        )
    dtype = a.dtype if a.dtype in (torch.float32, torch.float64) else torch.float32
    batch = max(a.shape[0], b.shape[0])
    a = match_batch(a.to(dtype), batch, "image_a")
    b = match_batch(b.to(device=a.device, dtype=dtype), batch, "image_b")
    channels = max(a.shape[1], b.shape[1])
    return match_channels(a, channels), match_channels(b, channels)


def _scale_bar(heat: torch.Tensor, full_scale_levels: list[float], name: str) -> torch.Tensor:
    """Draw the colour ramp and its range ("0 - D grey levels") across the bottom of each heat map."""
    from .compare import STRIP_LEVEL, TEXT_LEVEL, text_mask

    _, _, h, w = heat.shape
    if h < 16 or w < 8:
        return heat  # no room for a legible bar
    bar_h = max(3, round(h * 0.04))
    text_h = min(40, max(10, round(h / 14))) if h >= 48 and w >= 40 else 0
    ramp = torch.linspace(0.0, 1.0, w, device=heat.device, dtype=heat.dtype).view(1, 1, 1, w).expand(1, 1, bar_h, w)
    heat = heat.clone()
    heat[:, :, h - bar_h :, :] = colormap(ramp, name)
    if text_h:
        top = h - bar_h - text_h
        for i, level in enumerate(full_scale_levels):
            mask = from_numpy(text_mask(f"0 - {level:.3g} grey levels", w, text_h)[None, :, :, None], like=heat)
            heat[i, :, top : top + text_h, :] = STRIP_LEVEL + (TEXT_LEVEL - STRIP_LEVEL) * mask[0]
    return heat


def difference(
    a: torch.Tensor,
    b: torch.Tensor,
    *,
    gain: float | None = None,
    channels: str = "per_channel",
    colormap_name: str = "fire",
    scale_bar: bool = True,
    progress: ProgressCallback | None = None,
) -> DifferenceResult:
    """Signed residual, heat map and figures of ``a - b`` (core batches ``[B, C, H, W]`` in [0, 1]).

    ``gain``: amplification of the signed image, ``0.5 + gain * (a - b)``, and of the heat map,
    whose top colour means ``|a - b| >= 0.5 / gain``; ``None`` = automatic per image (the 99th
    percentile of ``|d|`` reaches full scale; the maximum if fewer than 1 % of the pixels differ;
    gain 1 for identical images), capped at 10000. ``channels``: ``per_channel`` (the signed image
    keeps the channels; the heat map shows the largest ``|d|`` of the channels) or ``luma``
    (BT.601 luma of ``d``). ``colormap_name``: ``fire``, ``aurora`` or ``gray`` (see :func:`colormap`).
    ``scale_bar``: draw the colour ramp and its range into the bottom rows of the heat map.

    Batches of one are repeated to the other's length; a gray image is compared with an RGB one
    as gray repeated on three channels. Results keep ``a``'s device and float dtype (float32 for
    half input); everything is computed per image.
    """
    if channels not in CHANNEL_MODES:
        raise InvalidParameterError("channels", f"unknown mode {channels!r}.", f"use one of {', '.join(CHANNEL_MODES)}.")
    if colormap_name not in COLORMAPS:
        raise InvalidParameterError(
            "colormap", f"unknown colour map {colormap_name!r}.", f"use one of {', '.join(COLORMAPS)}."
        )
    if gain is not None and (isinstance(gain, bool) or not isinstance(gain, (int, float))
                             or not math.isfinite(gain) or not 0 < gain <= MAX_GAIN):
        raise InvalidParameterError("gain", f"must be above 0 and at most {MAX_GAIN:g}, got {gain!r}.",
                                    "give e.g. 10, or leave it automatic.")
    a, b = _pair(a, b)
    d = a - b
    report(progress, 1, 3)
    if channels == "luma" and d.shape[1] == 3:
        d = luma(d)
    magnitude = d.abs().amax(dim=1, keepdim=True)
    flat = magnitude.flatten(1)
    if gain is None:
        p = _percentile(flat, AUTO_PERCENTILE)
        top = flat.amax(dim=1)
        full = torch.where(p > 0, p, top)
        full = torch.where(full > 0, full, torch.full_like(full, 0.5)).clamp(min=0.5 / MAX_GAIN)
    else:
        full = torch.full((d.shape[0],), 0.5 / gain, device=d.device, dtype=d.dtype)
    signed = (0.5 + d * (0.5 / full).view(-1, 1, 1, 1)).clamp(0.0, 1.0)
    heat = colormap((magnitude / full.view(-1, 1, 1, 1)).clamp(0.0, 1.0), colormap_name)
    report(progress, 2, 3)
    diff_all = (a - b).abs().flatten(1)
    mse = diff_all.square().mean(dim=1)
    psnr = 10.0 * torch.log10(1.0 / mse)
    if scale_bar:
        heat = _scale_bar(heat, (full * 255.0).tolist(), colormap_name)
    report(progress, 3, 3)
    return DifferenceResult(
        signed=signed, heat=heat, full_scale=full, gain=0.5 / full, mean_abs=diff_all.mean(dim=1),
        max_abs=diff_all.amax(dim=1), psnr=psnr,
    )
