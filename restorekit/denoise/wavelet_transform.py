"""2-D discrete wavelet transforms in torch, with the conventions and results of PyWavelets.

Filters come from ``pywt.Wavelet(name)`` (PyWavelets stays the filter source and the reference);
the filtering is done in torch on the input's device and dtype, batched over the leading
dimensions of ``x`` (``[..., H, W]``: images, channels, shifts).

- :func:`dwt2` / :func:`idwt2` and the multilevel :func:`wavedec2` / :func:`waverec2`: the
  decimated transform of ``pywt.dwt2`` / ``pywt.idwt2`` / ``pywt.wavedec2`` / ``pywt.waverec2``
  with the boundary modes ``symmetric`` (half-sample mirror), ``reflect`` (whole-sample mirror),
  ``periodic``, ``zero``, ``constant`` (edge value) and ``periodization``.
- :func:`swt2` / :func:`iswt2`: the stationary (undecimated, "à trous") transform of
  ``pywt.swt2(..., trim_approx=True, norm=False)`` / ``pywt.iswt2``: periodic, size a multiple of
  ``2**level``; level ``j`` filters with the filters upsampled by ``2**(j-1)``. The inverse is
  the circular filtering with the upsampled synthesis filters, halved per axis (the mean of the
  polyphase inverses that PyWavelets computes).

Coefficient layout as in PyWavelets: ``(cA, (cH, cV, cD))`` per level, cH = highpass along H
(rows index) and lowpass along W; lists are ``[cA_n, details_n, ..., details_1]`` (coarsest
first). Filtering is a sum of shifted strided slices times the filter taps (zero taps skipped):
elementwise, so exact in float32 on every device (no TF32 convolution) and bit-identical per
image whatever the batch.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pywt
import torch

MODES = ("symmetric", "reflect", "periodic", "zero", "constant", "periodization")
SHIFTS = {"idwt": lambda t: t // 2, "swt": lambda t, s: s * (t - 1 - t // 2), "iswt": lambda t, s: s * (t // 2)}
_NUMPY_PAD = {"symmetric": "symmetric", "reflect": "reflect", "periodic": "wrap", "constant": "edge"}


@lru_cache(maxsize=256)
def wavelet_filters(wavelet: str) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    """``(dec_lo, dec_hi, rec_lo, rec_hi)`` of ``pywt.Wavelet(wavelet)`` as tuples of floats (all of length L)."""
    w = pywt.Wavelet(wavelet)
    return tuple(w.dec_lo), tuple(w.dec_hi), tuple(w.rec_lo), tuple(w.rec_hi)


@lru_cache(maxsize=512)
def _circular_index(n: int, shift: int, extra: int) -> np.ndarray:
    return np.arange(-shift, n + extra - shift) % n


@lru_cache(maxsize=512)
def _pad_index_np(n: int, left: int, right: int, mode: str) -> np.ndarray:
    if mode == "zero":
        idx = np.arange(-left, n + right)
        return np.where((idx >= 0) & (idx < n), idx, n)  # index n = an appended zero sample
    if mode in ("periodic_exact", "periodization"):
        return np.arange(-left, n + right) % n
    if mode == "reflect" and n == 1:
        return np.zeros(n + left + right, dtype=np.int64)
    return np.pad(np.arange(n), (left, right), mode=_NUMPY_PAD[mode])


def _pad(x: torch.Tensor, axis: int, left: int, right: int, mode: str) -> torch.Tensor:
    """Extend ``x`` along ``axis`` (-2 or -1) by ``left``/``right`` samples with the boundary ``mode``."""
    if left == 0 and right == 0:
        return x
    n = x.shape[axis]
    if mode == "zero":
        zero = torch.zeros_like(x.narrow(axis, 0, 1))
        x = torch.cat([x, zero], dim=axis)
    idx = torch.from_numpy(_pad_index_np(n, left, right, mode)).to(x.device)
    return x.index_select(axis, idx)


def _correlate(
    x: torch.Tensor, filters: tuple[tuple[float, ...], ...], axis: int, n_out: int, stride: int = 1, dilation: int = 1
) -> list[torch.Tensor]:
    """``out_k[o] = sum_m filters[k][m] * x[o * stride + m * dilation]`` along ``axis``, for each filter k."""
    outs: list[torch.Tensor | None] = [None] * len(filters)
    taps = len(filters[0])
    for m in range(taps):
        coefs = [f[m] for f in filters]
        if all(c == 0.0 for c in coefs):
            continue
        sl = x.narrow(axis, m * dilation, (n_out - 1) * stride + 1)
        if stride > 1:
            sl = sl[..., ::stride, :] if axis == -2 else sl[..., ::stride]
        for k, c in enumerate(coefs):
            if c == 0.0:
                continue
            if outs[k] is None:
                outs[k] = sl * c
            else:
                outs[k].add_(sl, alpha=c)
    shape = list(x.shape)
    shape[axis] = n_out
    return [o if o is not None else x.new_zeros(shape) for o in outs]


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unsupported boundary mode {mode!r}; use one of {', '.join(MODES)}")


def _dwt_axis(x: torch.Tensor, lo: tuple, hi: tuple, axis: int, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One-level decimated analysis along ``axis`` (``pywt.dwt`` conventions)."""
    n, taps = x.shape[axis], len(lo)
    flo, fhi = lo[::-1], hi[::-1]  # pywt convolves; we correlate
    if mode == "periodization":
        if n % 2:
            x = torch.cat([x, x.narrow(axis, n - 1, 1)], dim=axis)
            n += 1
        n_out = n // 2
        left = taps // 2 - 1
        right = 2 * (n_out - 1) + taps - 1 - left - (n - 1)
        xp = _pad(x, axis, max(left, 0), max(right, 0), "periodization")
        if left < 0:  # Haar-like 2-tap filters start one sample in
            xp = xp.narrow(axis, -left, xp.shape[axis] + left)
    else:
        n_out = (n + taps - 1) // 2
        left = taps - 2
        right = 2 * n_out - n
        xp = _pad(x, axis, left, right, mode)
    a, d = _correlate(xp, (flo, fhi), axis, n_out, stride=2)
    return a, d


def _IDWT_PER_SHIFT(taps: int) -> int:
    return SHIFTS["idwt"](taps)


def _upsample2(x: torch.Tensor, axis: int) -> torch.Tensor:
    """Zeros between the samples along ``axis``: length n -> 2n - 1."""
    n = x.shape[axis]
    shape = list(x.shape)
    shape[axis] = 2 * n - 1
    out = x.new_zeros(shape)
    if axis == -2:
        out[..., ::2, :] = x
    else:
        out[..., ::2] = x
    return out


def _idwt_axis(a: torch.Tensor, d: torch.Tensor, lo: tuple, hi: tuple, axis: int, mode: str) -> torch.Tensor:
    """One-level decimated synthesis along ``axis`` (``pywt.idwt`` conventions)."""
    n, taps = a.shape[axis], len(lo)
    flo, fhi = lo[::-1], hi[::-1]
    ua, ud = _upsample2(a, axis), _upsample2(d, axis)
    if mode == "periodization":
        # circular full convolution of the upsampled coefficients (length 2n)
        z = torch.stack([ua, ud])
        z = torch.cat([z, torch.zeros_like(z.narrow(axis, 0, 1))], dim=axis)
        ya = _swt_axis(z[0], (flo,), axis, 1, _IDWT_PER_SHIFT(taps))[0]
        return ya.add_(_swt_axis(z[1], (fhi,), axis, 1, _IDWT_PER_SHIFT(taps))[0])
    n_out = 2 * n - taps + 2
    # full convolution of the upsampled coefficients, keeping samples L-2 ... L-2+n_out-1
    pad = taps - 1
    za = _pad(ua, axis, pad, pad, "zero")
    zd = _pad(ud, axis, pad, pad, "zero")
    za = za.narrow(axis, taps - 2, za.shape[axis] - (taps - 2))
    zd = zd.narrow(axis, taps - 2, zd.shape[axis] - (taps - 2))
    ya = _correlate(za, (flo,), axis, n_out)[0]
    yd = _correlate(zd, (fhi,), axis, n_out)[0]
    return ya.add_(yd)


def dwt2(x: torch.Tensor, wavelet: str, mode: str = "symmetric") -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """One-level 2-D DWT of ``x`` ``[..., H, W]``: ``(cA, (cH, cV, cD))`` as ``pywt.dwt2(x, wavelet, mode)``."""
    _check_mode(mode)
    lo, hi, _, _ = wavelet_filters(wavelet)
    lo_h, hi_h = _dwt_axis(x, lo, hi, -2, mode)  # along H
    both = torch.stack([lo_h, hi_h])
    lo_w, hi_w = _dwt_axis(both, lo, hi, -1, mode)  # along W
    return lo_w[0], (lo_w[1], hi_w[0], hi_w[1])


def idwt2(coeffs: tuple, wavelet: str, mode: str = "symmetric") -> torch.Tensor:
    """Inverse of :func:`dwt2` (``pywt.idwt2``): ``coeffs = (cA, (cH, cV, cD))``."""
    _check_mode(mode)
    _, _, lo, hi = wavelet_filters(wavelet)
    ca, (ch, cv, cd) = coeffs
    approx = torch.stack([ca, ch])  # lowpass along W of: (lowpass along H, highpass along H)
    detail = torch.stack([cv, cd])
    rows = _idwt_axis(approx, detail, lo, hi, -1, mode)
    return _idwt_axis(rows[0], rows[1], lo, hi, -2, mode)


def wavedec2(x: torch.Tensor, wavelet: str, level: int, mode: str = "symmetric") -> list:
    """Multilevel 2-D DWT as ``pywt.wavedec2(x, wavelet, mode, level)``: ``[cA_n, (cH_n, cV_n, cD_n), ..., level 1]``."""
    details = []
    a = x
    for _ in range(level):
        a, d = dwt2(a, wavelet, mode)
        details.append(d)
    return [a, *details[::-1]]


def waverec2(coeffs: list, wavelet: str, mode: str = "symmetric") -> torch.Tensor:
    """Inverse of :func:`wavedec2` (``pywt.waverec2``): the approximation is trimmed to each level's detail size."""
    a = coeffs[0]
    for d in coeffs[1:]:
        h, w = d[0].shape[-2:]
        a = idwt2((a[..., :h, :w], d), wavelet, mode)
    return a


def _swt_axis(x: torch.Tensor, filters: tuple, axis: int, step: int, shift: int) -> list[torch.Tensor]:
    """Circular correlation along ``axis`` with taps ``step`` apart; output o reads from ``o - shift``."""
    n = x.shape[axis]
    taps = len(filters[0])
    idx = torch.from_numpy(_circular_index(n, shift, (taps - 1) * step)).to(x.device)
    xp = x.index_select(axis, idx)
    return _correlate(xp, filters, axis, n, dilation=step)


def swt2(x: torch.Tensor, wavelet: str, level: int, start_level: int = 0) -> list:
    """Stationary 2-D wavelet transform, as ``pywt.swt2(x, wavelet, level, start_level, trim_approx=True)``.

    ``x`` ``[..., H, W]`` with H and W multiples of ``2**(start_level + level)``. Returns
    ``[cA_n, (cH_n, cV_n, cD_n), ..., (cH_1, cV_1, cD_1)]``, every band of size H x W.
    """
    details = []
    a = x
    for j in range(start_level, start_level + level):
        a, d = swt2_level(a, wavelet, j)
        details.append(d)
    return [a, *details[::-1]]


def swt2_level(a: torch.Tensor, wavelet: str, j: int) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """Level ``j + 1`` (j = 0 finest) of :func:`swt2` from the previous approximation ``a``."""
    a = a.contiguous()
    approx = torch.empty_like(a)
    details = (torch.empty_like(a), torch.empty_like(a), torch.empty_like(a))
    swt2_level_into(a, wavelet, j, approx, details, (torch.empty_like(a), torch.empty_like(a)))
    return approx, details


def iswt2_level(a: torch.Tensor, details: tuple, wavelet: str, j: int) -> torch.Tensor:
    """Inverse of :func:`swt2_level`: the approximation of level ``j`` from level ``j + 1``'s bands."""
    out = torch.empty_like(a)
    iswt2_level_into(a, details, wavelet, j, out, (torch.empty_like(a), torch.empty_like(a)))
    return out


def iswt2(coeffs: list, wavelet: str) -> torch.Tensor:
    """Inverse of :func:`swt2` (``pywt.iswt2``) for ``[cA_n, details_n, ..., details_1]``."""
    a = coeffs[0]
    levels = len(coeffs) - 1
    for k, d in enumerate(coeffs[1:]):
        a = iswt2_level(a, d, wavelet, levels - 1 - k)
    return a


# ------------------------------------------------------------------ stationary transform into buffers
#
# The same stationary levels as swt2_level / iswt2_level, written into caller-owned buffers: the
# circular extension is two slices per tap (no padded copy), so one level costs one multiply-add
# pass per nonzero tap and allocates nothing (on the CPU a fresh buffer costs several passes).


def _circular_filter_(
    x: torch.Tensor,
    filters: tuple[tuple[float, ...], ...],
    outs: tuple[torch.Tensor, ...],
    axis: int,
    step: int,
    shift: int,
    accumulate: bool = False,
) -> None:
    """``outs[k][o] (+)= sum_m filters[k][m] * x[(o + m * step - shift) mod n]`` along ``axis``."""
    n = x.shape[axis]
    started = [accumulate] * len(outs)
    for m in range(len(filters[0])):
        k = (m * step - shift) % n
        head, tail = x.narrow(axis, k, n - k), x.narrow(axis, 0, k)
        for f, out, idx in zip(filters, outs, range(len(outs)), strict=True):
            c = f[m]
            if c == 0.0:
                continue
            o_head, o_tail = out.narrow(axis, 0, n - k), out.narrow(axis, n - k, k)
            if started[idx]:
                o_head.add_(head, alpha=c)
                if k:
                    o_tail.add_(tail, alpha=c)
            else:
                torch.mul(head, c, out=o_head)
                if k:
                    torch.mul(tail, c, out=o_tail)
                started[idx] = True
    for out, s in zip(outs, started, strict=True):
        if not s:  # a filter of zeros only
            out.zero_()


def swt2_level_into(
    a: torch.Tensor,
    wavelet: str,
    j: int,
    approx: torch.Tensor,
    details: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    scratch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    """:func:`swt2_level` of ``a`` ``[..., H, W]`` into ``approx`` and ``details`` = (cH, cV, cD).

    ``scratch``: two buffers of ``a``'s shape (the lowpass and highpass along H). ``approx`` may
    be ``a`` itself only if it is not one of the scratch buffers.
    """
    lo, hi, _, _ = wavelet_filters(wavelet)
    taps, step = len(lo), 2**j
    shift = SHIFTS["swt"](taps, step)
    flo, fhi = lo[::-1], hi[::-1]
    lo_h, hi_h = scratch
    _circular_filter_(a, (flo, fhi), (lo_h, hi_h), -2, step, shift)
    ch, cv, cd = details
    _circular_filter_(lo_h, (flo, fhi), (approx, cv), -1, step, shift)
    _circular_filter_(hi_h, (flo, fhi), (ch, cd), -1, step, shift)


def iswt2_level_into(
    a: torch.Tensor,
    details: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    wavelet: str,
    j: int,
    out: torch.Tensor,
    scratch: tuple[torch.Tensor, torch.Tensor],
) -> None:
    """:func:`iswt2_level` into ``out`` (``scratch``: two buffers of the bands' shape; ``out`` may be ``a``)."""
    _, _, lo, hi = wavelet_filters(wavelet)
    taps, step = len(lo), 2**j
    shift = SHIFTS["iswt"](taps, step)
    lo, hi = lo[::-1], hi[::-1]
    ch, cv, cd = details
    rows0, rows1 = scratch
    _circular_filter_(a, (lo,), (rows0,), -1, step, shift)
    _circular_filter_(cv, (hi,), (rows0,), -1, step, shift, accumulate=True)
    _circular_filter_(ch, (lo,), (rows1,), -1, step, shift)
    _circular_filter_(cd, (hi,), (rows1,), -1, step, shift, accumulate=True)
    _circular_filter_(rows0, (lo,), (out,), -2, step, shift)
    _circular_filter_(rows1, (hi,), (out,), -2, step, shift, accumulate=True)
    out.mul_(0.25)
