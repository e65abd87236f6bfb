"""Gaussian and Laplacian pyramids (Burt & Adelson, 1983) on batched torch tensors.

P. J. Burt and E. H. Adelson, "The Laplacian Pyramid as a Compact Image Code", IEEE Trans.
Communications 31(4), 1983.

One level down (:func:`pyramid_down`) blurs with the 5-tap binomial kernel
``[1, 4, 6, 4, 1] / 16`` in both directions and keeps every second sample, so a side of ``n``
pixels becomes ``ceil(n / 2)``: odd sizes keep their last sample, a side of 1 stays 1. One level
up (:func:`pyramid_up`) inserts zeros between the samples and blurs with the same kernel times 2
per axis, back to the finer level's exact size. Borders are mirrored without repeating the edge
sample (``c b | a b c``, OpenCV's BORDER_REFLECT_101), at the fine level for both directions, so
the pyramid of a mirrored image is the mirrored pyramid.

Band ``k`` of the Laplacian pyramid is ``g_k - up(g_{k+1})`` where ``g_0 = x`` and
``g_{k+1} = down(g_k)``; the last element is the low-pass residual ``g_L``. Band 0 holds detail
of periods about 2-4 px (0.25-0.5 cycles/px), band ``k`` periods ``2^(k+1)``-``2^(k+2)`` px.
Collapsing adds the bands back from coarse to fine, which undoes the split up to float
rounding (measured below 3e-7 in float32 on [0, 1] images).

On CUDA the convolutions run in full float32 (cuDNN would use TF32 by default, see
:func:`_exact_float32_conv`). Each level is two batched convolutions (one ``conv2d`` with stride 2 down, one
``conv_transpose2d`` with stride 2 up) over all images and channels at once; there is no loop
over pixels, only over levels.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import torch
import torch.nn.functional as F

from ..errors import InvalidParameterError

_BINOMIAL = (1.0, 4.0, 6.0, 4.0, 1.0)


def max_levels(h: int, w: int) -> int:
    """How many times an ``h x w`` image can be halved (``n -> ceil(n / 2)``) until it is 1 x 1.

    This is the largest useful ``levels`` for :func:`laplacian_pyramid`: ``ceil(log2(max(h, w)))``;
    0 for a 1 x 1 image.
    """
    return max(0, (max(int(h), int(w)) - 1).bit_length())


@lru_cache(maxsize=32)
def _kernel_cached(device: torch.device, dtype: torch.dtype, scale: float) -> torch.Tensor:
    with torch.inference_mode(False):  # kept for later calls, whatever mode built it
        k = torch.tensor(_BINOMIAL, dtype=torch.float64)
        return (torch.outer(k, k) * (scale / 256.0)).view(1, 1, 5, 5).to(device=device, dtype=dtype)


def _kernel(x: torch.Tensor, scale: float) -> torch.Tensor:
    """The 5x5 binomial kernel times ``scale``, on ``x``'s device and dtype (made once, no copy per call)."""
    return _kernel_cached(x.device, x.dtype, scale)


def _reflect101_index(n: int, pad_before: int, pad_after: int, device: torch.device) -> torch.Tensor:
    """Indices ``-pad_before .. n + pad_after - 1`` folded into ``[0, n)`` (mirror without edge repeat)."""
    i = torch.arange(-pad_before, n + pad_after, device=device)
    if n == 1:
        return torch.zeros_like(i)
    period = 2 * (n - 1)
    i = i.remainder(period)
    return torch.where(i < n, i, period - i)


def _pad(x: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """Reflect-101 padding of a ``[N, 1, H, W]`` tensor; any size, including sides of 1 or 2 px."""
    h, w = x.shape[-2:]
    if h > max(top, bottom) and w > max(left, right):
        return F.pad(x, (left, right, top, bottom), mode="reflect")
    x = x.index_select(-2, _reflect101_index(h, top, bottom, x.device))
    return x.index_select(-1, _reflect101_index(w, left, right, x.device))


@contextmanager
def _exact_float32_conv(x: torch.Tensor) -> Iterator[None]:
    """Run cuDNN float32 convolutions in full float32 while inside.

    cuDNN computes float32 convolutions in TF32 (10-bit mantissa, ~1e-3 relative error) unless told
    otherwise, which would cost the pyramid its exact reconstruction; the setting is restored after.
    """
    if x.device.type != "cuda" or x.dtype != torch.float32:
        yield
        return
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):  # torch >= 2.9
        before = conv.fp32_precision
        conv.fp32_precision = "ieee"
        try:
            yield
        finally:
            conv.fp32_precision = before
    else:
        before = torch.backends.cudnn.allow_tf32
        torch.backends.cudnn.allow_tf32 = False
        try:
            yield
        finally:
            torch.backends.cudnn.allow_tf32 = before


def _work_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def pyramid_down(x: torch.Tensor) -> torch.Tensor:
    """Blur ``x`` ``[B, C, H, W]`` with the 5x5 binomial kernel and keep every second sample.

    Returns ``[B, C, ceil(H / 2), ceil(W / 2)]`` in ``x``'s dtype (float32 or float64 for other dtypes
    on entry are computed in float32 and cast back).
    """
    b, c, h, w = x.shape
    work = x.to(_work_dtype(x)).reshape(b * c, 1, h, w)
    with _exact_float32_conv(work):
        out = F.conv2d(_pad(work, 2, 2, 2, 2), _kernel(work, 1.0), stride=2)
    return out.reshape(b, c, (h + 1) // 2, (w + 1) // 2).to(x.dtype)


def _coarse_pad_index(n: int, m: int, device: torch.device) -> torch.Tensor:
    """Indices of the coarse samples ``-1 .. m`` for upsampling to ``n`` fine samples.

    Coarse sample ``i`` sits at fine position ``2 i``. Mirroring the fine grid about 0 puts
    fine ``-2`` on fine ``2`` (coarse 1); about ``n - 1`` for even ``n`` puts fine ``n`` on
    fine ``n - 2`` (coarse ``m - 1``). For odd ``n`` the sample after the last is never used.
    """
    before = 1 if m > 1 else 0
    after = m - 1 if n % 2 == 0 else max(m - 2, 0)
    i = torch.arange(-1, m + 1, device=device)
    return torch.where(i < 0, before, torch.where(i >= m, after, i))


def pyramid_up(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Expand a coarse level ``x`` ``[B, C, h, w]`` to the finer level's ``size = (H, W)``.

    ``(h, w)`` must be ``(ceil(H / 2), ceil(W / 2))``. Zeros are inserted between the samples and the
    result is blurred with the binomial kernel scaled by 4 (2 per axis), which keeps flat areas flat.
    """
    b, c, h, w = x.shape
    fh, fw = int(size[0]), int(size[1])
    if (h, w) != ((fh + 1) // 2, (fw + 1) // 2):
        raise InvalidParameterError(
            "size", f"a {h}x{w} level cannot be expanded to {fh}x{fw}.", "give the size of the level it came from."
        )
    work = x.to(_work_dtype(x)).reshape(b * c, 1, h, w)
    work = work.index_select(-2, _coarse_pad_index(fh, h, x.device))
    work = work.index_select(-1, _coarse_pad_index(fw, w, x.device))
    # The transposed convolution puts coarse (padded) sample j at output 2 j + k; with the one-sample
    # padding, fine position t lands at output t + 4.
    with _exact_float32_conv(work):
        out = F.conv_transpose2d(work, _kernel(work, 4.0), stride=2)[..., 4 : 4 + fh, 4 : 4 + fw]
    return out.reshape(b, c, fh, fw).to(x.dtype)


def _check_levels(levels: int) -> None:
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 0:
        raise InvalidParameterError(
            "levels", f"expected a whole number >= 0, got {levels!r}.", "give e.g. 4 (bands of 2-4, 4-8, 8-16, 16-32 px)."
        )


def laplacian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """The Laplacian pyramid of a batch ``x`` ``[B, C, H, W]``: ``levels`` detail bands and the residual.

    Args:
        x: any float tensor of 4 dimensions (values are not clamped; the pyramid is linear).
        levels: number of band-pass levels, >= 0. It is capped at :func:`max_levels` ``(H, W)``
            (an image cannot be halved below 1 x 1), so the list may be shorter than asked;
            0 (or a 1 x 1 image) returns ``[x]``.

    Returns:
        ``[band_0, ..., band_{L-1}, residual]``, finest first. ``band_k`` has size
        ``ceil(H / 2^k) x ceil(W / 2^k)`` and holds detail of periods about ``2^(k+1)``-``2^(k+2)`` px;
        the residual is the Gaussian level ``L``. Same dtype as ``x`` (computed in float32, or
        float64 for float64 input). :func:`collapse_laplacian_pyramid` inverts it.
    """
    _check_levels(levels)
    if x.dim() != 4:
        raise InvalidParameterError("x", f"expected [B, C, H, W], got shape {tuple(x.shape)}.", None)
    levels = min(levels, max_levels(x.shape[-2], x.shape[-1]))
    work = x.to(_work_dtype(x))
    bands = []
    current = work
    for _ in range(levels):
        coarse = pyramid_down(current)
        bands.append((current - pyramid_up(coarse, current.shape[-2:])).to(x.dtype))
        current = coarse
    bands.append(current.to(x.dtype))
    return bands


def collapse_laplacian_pyramid(bands: list[torch.Tensor]) -> torch.Tensor:
    """Rebuild the image from a Laplacian pyramid ``[band_0, ..., residual]`` (finest first).

    Coarse to fine, ``g_k = band_k + up(g_{k+1})``. Exact inverse of :func:`laplacian_pyramid` up to
    float rounding. The bands may have been changed (multiplied by gains, remapped): the result
    is the image those bands describe. Returns the finest level's shape and dtype.
    """
    if not bands:
        raise InvalidParameterError("bands", "the pyramid is empty.", "give the list laplacian_pyramid returned.")
    out_dtype = bands[0].dtype
    current = bands[-1].to(_work_dtype(bands[-1]))
    for band in reversed(bands[:-1]):
        current = band.to(current.dtype) + pyramid_up(current, band.shape[-2:])
    return current.to(out_dtype)


def expand_to(band: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A pyramid level expanded to full ``size`` by repeated :func:`pyramid_up` (a band's full-resolution
    contribution to the collapsed image: the collapse is linear, so these add up to the image)."""
    sizes = [(int(size[0]), int(size[1]))]
    while sizes[-1] != tuple(band.shape[-2:]):
        h, w = sizes[-1]
        if (h, w) == (1, 1) or h < band.shape[-2] or w < band.shape[-1]:
            raise InvalidParameterError(
                "size", f"a {tuple(band.shape[-2:])} level does not come from a {tuple(size)} image.", None
            )
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    out = band
    for target in reversed(sizes[:-1]):
        out = pyramid_up(out, target)
    return out
