"""Shared helpers of the frequency-domain enhancement filters.

- :func:`fast_length` and :func:`mirror_pad_for_fft`: extend an image by half-sample mirror
  reflection to a size whose FFT is fast, so that a filter applied through the FFT sees no
  wrap-around from the opposite border (the periodic continuation of the padded image jumps
  only far from the picture).
- :func:`radial_frequency`: the frequency of every ``rfft2`` coefficient in cycles per pixel.
- :func:`gaussian_lowpass`: the Gaussian transfer function ``exp(-D^2 / (2 D0^2))``.
- :func:`restore_mean`: bring a result's mean brightness back to the input's after clipping.

Everything is batched torch on the input's device and dtype.
"""

from __future__ import annotations

import math

import torch

from ..color import luma


def fast_length(n: int) -> int:
    """The smallest length >= ``n`` (>= 1) whose only prime factors are 2, 3 and 5."""
    n = max(int(n), 1)
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def _symmetric_index(n: int, before: int, after: int, device: torch.device) -> torch.Tensor:
    """Indices ``-before .. n + after - 1`` folded into ``[0, n)`` by half-sample mirroring."""
    i = torch.arange(-before, n + after, device=device) % (2 * n)
    return torch.where(i < n, i, 2 * n - 1 - i)


def mirror_pad(x: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """Extend ``x`` ``[..., H, W]`` by half-sample mirror reflection (``c b a | a b c``), any amounts.

    Pads longer than the image keep mirroring (the extension is periodic with period 2 H),
    so a 1x1 image becomes a constant.
    """
    h, w = x.shape[-2:]

    def axis(t: torch.Tensor, before: int, after: int, n: int, dim: int) -> torch.Tensor:
        if before == 0 and after == 0:
            return t
        if before <= n and after <= n:  # flipped slices: cheaper than a gather
            parts = [t.narrow(dim, 0, before).flip(dim), t, t.narrow(dim, n - after, after).flip(dim)]
            return torch.cat(parts, dim=dim)
        return t.index_select(dim, _symmetric_index(n, before, after, t.device))

    return axis(axis(x, top, bottom, h, x.dim() - 2), left, right, w, x.dim() - 1)


def fft_padding(n: int, margin: int) -> tuple[int, int]:
    """``(before, after)`` padding of an axis of ``n`` samples: at least ``margin`` on each side,
    then grown to a fast FFT length, the extra split evenly."""
    total = fast_length(n + 2 * max(int(margin), 0))
    before = (total - n) // 2
    return before, total - n - before


def mirror_pad_for_fft(x: torch.Tensor, margin_h: int, margin_w: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Mirror-pad ``x`` ``[..., H, W]`` by at least the margins to a fast FFT size.

    Returns the padded tensor and ``(top, left)``, the offset of the original picture in it
    (crop with ``[..., top:top + H, left:left + W]``).
    """
    h, w = x.shape[-2:]
    top, bottom = fft_padding(h, margin_h)
    left, right = fft_padding(w, margin_w)
    return mirror_pad(x, top, bottom, left, right), (top, left)


def radial_frequency(h: int, w: int, *, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``[h, w // 2 + 1]``: the radial frequency ``sqrt(fy^2 + fx^2)`` in cycles per pixel of each
    coefficient of ``torch.fft.rfft2`` of an ``h x w`` signal (0 at DC, up to ``sqrt(2)/2``)."""
    fy = torch.fft.fftfreq(h, device=device, dtype=dtype).view(-1, 1)
    fx = torch.fft.rfftfreq(w, device=device, dtype=dtype).view(1, -1)
    return torch.sqrt(fy * fy + fx * fx)


def gaussian_lowpass(d: torch.Tensor, d0: float) -> torch.Tensor:
    """Gaussian low-pass transfer ``exp(-d^2 / (2 d0^2))`` (``d``, ``d0`` in the same frequency
    units, ``d0 > 0``): 1 at DC, ``exp(-1/2)`` at ``d = d0``."""
    return torch.exp(d * d * (-0.5 / (d0 * d0)))


def gaussian_sigma_px(d0: float) -> float:
    """Spatial standard deviation in pixels of the Gaussian whose transfer has ``d0`` cycles/px."""
    return 1.0 / (2.0 * math.pi * d0)


def brightness(x: torch.Tensor, per_channel: bool) -> torch.Tensor:
    """Mean brightness ``[B, C', 1, 1]``: of every channel, or of BT.601 luma (one value)."""
    v = x if per_channel else luma(x)
    return v.mean(dim=(-2, -1), keepdim=True)


def restore_mean(
    y: torch.Tensor,
    target: torch.Tensor,
    *,
    per_channel: bool,
    multiplicative: bool,
    offset: float = 0.0,
    clamp: bool = True,
    iterations: int = 4,
) -> torch.Tensor:
    """Shift (``multiplicative=False``: add a constant) or scale ``y`` so that its mean brightness
    (:func:`brightness`) equals ``target`` after clipping to [0, 1].

    Clipping can only pull the mean towards the clipped side, so a fixed-point iteration on the
    offset / gain converges monotonically; a few steps bring the drift far below 1/255 unless
    nearly everything is clipped. Without ``clamp`` one exact step is taken and the result is
    not clipped. The correction is one number per image (per channel with ``per_channel``).
    The multiplicative form scales ``y + offset`` (``offset`` >= 0), i.e. shifts ``log(y + offset)``.
    """
    if multiplicative:
        u, t = y + offset, target + offset
        k = t / (brightness(u, per_channel)).clamp(min=1e-12)
        if not clamp:
            return u * k - offset
        for _ in range(iterations):
            k = k * t / (brightness((u * k - offset).clamp(0.0, 1.0), per_channel) + offset).clamp(min=1e-12)
        return (u * k - offset).clamp(0.0, 1.0)
    d = target - brightness(y, per_channel)
    if not clamp:
        return y + d
    for _ in range(iterations):
        d = d + target - brightness((y + d).clamp(0.0, 1.0), per_channel)
    return (y + d).clamp(0.0, 1.0)


def drift_grey(out: torch.Tensor, x: torch.Tensor, per_channel: bool) -> torch.Tensor:
    """``[B]``: the largest change of mean brightness of each image, in 0-255 grey levels."""
    d = (brightness(out, per_channel) - brightness(x, per_channel)).abs()
    return d.flatten(1).amax(dim=1) * 255.0
