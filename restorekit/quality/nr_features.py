"""Natural-scene-statistics features shared by the no-reference measures NIQE, BRISQUE and PIQE.

All helpers work on gray batches ``[B, 1, H, W]`` on the 0–255 scale the published models were
fitted on, in the working dtype of the caller (float32, float64 for float64 input), on any device.

- :func:`matlab_gray`: MATLAB's ``rgb2gray`` weights (ITU-R BT.601 luma without offset).
- :func:`imresize_half`: MATLAB's ``imresize(I, 0.5)`` — bicubic (a = -0.5), antialiased, mirrored edges.
- :func:`mscn`: mean-subtracted contrast-normalised coefficients with the 7 x 7, σ = 7/6 px Gaussian window.
- :func:`aggd_features` / :func:`ggd_features`: moment matching of an (asymmetric) generalised
  Gaussian by the look-up over shape parameters 0.2, 0.201, …, 10 used by the reference code.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

#: MATLAB ``rgb2gray`` coefficients (the inverse of its NTSC YIQ matrix's first row, exactly as MATLAB uses them).
RGB2GRAY = (0.298936021293775, 0.587043074451121, 0.114020904255103)

#: Gaussian window of Mittal et al.: 7 x 7 taps, σ = 7/6 px (``fspecial('gaussian', 7, 7/6)``).
WINDOW_SIZE = 7
WINDOW_SIGMA = 7.0 / 6.0


def work_dtype(x: torch.Tensor) -> torch.dtype:
    """float64 for float64 input, float32 otherwise."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def matlab_gray(x: torch.Tensor) -> torch.Tensor:
    """Gray ``[B, 1, H, W]`` from ``x`` ``[B, C, H, W]`` (C = 1 is returned as is), MATLAB ``rgb2gray`` weights."""
    if x.shape[1] == 1:
        return x
    r, g, b = RGB2GRAY
    return r * x[:, 0:1] + g * x[:, 1:2] + b * x[:, 2:3]


def gaussian_window(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The normalised 1-D Gaussian (7 taps, σ = 7/6 px) whose outer product is ``fspecial('gaussian', 7, 7/6)``."""
    r = torch.arange(WINDOW_SIZE, dtype=torch.float64) - (WINDOW_SIZE - 1) / 2
    g = torch.exp(-(r**2) / (2 * WINDOW_SIGMA**2))
    return (g / g.sum()).to(device=device, dtype=dtype)


def _mirror_index(n: int, start: int, stop: int, device: torch.device) -> torch.Tensor:
    """Indices ``start..stop-1`` into a length-``n`` axis with symmetric (edge-repeating) reflection."""
    i = torch.arange(start, stop, device=device) % (2 * n)
    return torch.where(i >= n, 2 * n - 1 - i, i)


def mscn(x: torch.Tensor, *, padding: str) -> tuple[torch.Tensor, torch.Tensor]:
    """MSCN coefficients ``(x - μ) / (σ + 1)`` of gray ``x`` ``[B, 1, H, W]`` (0–255 scale), and the local σ.

    μ and σ are the Gaussian-weighted local mean and standard deviation (7 x 7, σ = 7/6 px).
    ``padding`` is ``"zeros"`` (MATLAB ``filter2(..., 'same')``, BRISQUE) or ``"replicate"``
    (``imfilter(..., 'replicate')``, NIQE and PIQE).
    """
    # The local variance E[x²] - μ² of 0–255 values loses about 1e-2 to float32 rounding, which moves
    # MSCN in flat regions and the scores by up to 1 %; these small separable convolutions run in float64.
    g = gaussian_window(torch.float64, x.device)
    h = WINDOW_SIZE // 2
    xd = x.to(torch.float64)
    pair = torch.cat([xd, xd * xd], dim=1).reshape(-1, 1, *x.shape[-2:])
    if padding == "replicate":
        pair = F.pad(pair, (h, h, h, h), mode="replicate")
        pad = 0
    else:
        pad = h
    moments = F.conv2d(pair, g.view(1, 1, WINDOW_SIZE, 1), padding=(pad, 0))
    moments = F.conv2d(moments, g.view(1, 1, 1, WINDOW_SIZE), padding=(0, pad))
    moments = moments.view(x.shape[0], 2, *x.shape[-2:])
    mu, second = moments[:, 0:1], moments[:, 1:2]
    sigma = (second - mu * mu).abs().sqrt()
    return ((xd - mu) / (sigma + 1.0)).to(x.dtype), sigma.to(x.dtype)


def _cubic(t: torch.Tensor) -> torch.Tensor:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``)."""
    a = t.abs()
    a2, a3 = a * a, a * a * a
    inner = 1.5 * a3 - 2.5 * a2 + 1
    outer = -0.5 * a3 + 2.5 * a2 - 4 * a + 2
    return torch.where(a <= 1, inner, torch.where(a <= 2, outer, torch.zeros_like(a)))


@lru_cache(maxsize=8)
def _half_taps() -> tuple[float, ...]:
    # At scale 1/2 with antialiasing every output sample sits at the same sub-pixel phase, so MATLAB's
    # per-pixel weights reduce to one 8-tap filter at input offsets -3..4 (distances 3.5 .. -3.5 px).
    d = torch.arange(3.5, -4.0, -1.0, dtype=torch.float64)
    w = 0.5 * _cubic(0.5 * d)
    return tuple((w / w.sum()).tolist())


def imresize_half(x: torch.Tensor) -> torch.Tensor:
    """MATLAB ``imresize(x, 0.5)`` (bicubic, antialiasing on) of ``x`` ``[B, C, H, W]``: ``ceil(H/2) x ceil(W/2)``."""
    b, c, h, w = x.shape
    taps = torch.tensor(_half_taps(), dtype=x.dtype, device=x.device)
    oh, ow = (h + 1) // 2, (w + 1) // 2
    rows = _mirror_index(h, -3, 2 * oh + 3, x.device)
    cols = _mirror_index(w, -3, 2 * ow + 3, x.device)
    y = x.reshape(b * c, 1, h, w).index_select(2, rows)
    y = F.conv2d(y, taps.view(1, 1, 8, 1), stride=(2, 1))
    y = y.index_select(3, cols)
    y = F.conv2d(y, taps.view(1, 1, 1, 8), stride=(1, 2))
    return y.view(b, c, oh, ow)


@lru_cache(maxsize=16)
def _shape_table(kind: str, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    # Shape parameters 0.2:0.001:10 as in the reference code; the moment ratio is monotonic in the
    # shape, so the nearest entry is found by a sorted search instead of a [N, 9801] argmin.
    alpha = torch.round(torch.arange(200, 10001, dtype=torch.float64)) / 1000.0
    lg1, lg2, lg3 = torch.lgamma(1 / alpha), torch.lgamma(2 / alpha), torch.lgamma(3 / alpha)
    if kind == "aggd":
        ratio = torch.exp(2 * lg2 - lg1 - lg3)  # increasing in alpha
    else:
        ratio = -torch.exp(lg1 + lg3 - 2 * lg2)  # E[x²]/E[|x|]², decreasing in alpha: negated to increase
    return alpha.to(device=device, dtype=dtype), ratio.to(device=device, dtype=dtype)


def _nearest_shape(value: torch.Tensor, kind: str) -> torch.Tensor:
    alpha, ratio = _shape_table(kind, value.dtype, value.device)
    v = value if kind == "aggd" else -value
    flat = v.reshape(-1).contiguous()
    hi = torch.searchsorted(ratio, flat).clamp(1, ratio.numel() - 1)
    lo = hi - 1
    pick = torch.where((ratio[hi] - flat).abs() < (flat - ratio[lo]).abs(), hi, lo)
    out = alpha[pick].view(value.shape)
    return torch.where(torch.isnan(value), torch.full_like(out, math.nan), out)


def ggd_features(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised-Gaussian fit over the last axis of ``v``: ``(shape α, variance σ²)``."""
    second = (v * v).mean(-1)
    first = v.abs().mean(-1)
    alpha = _nearest_shape(second / (first * first), "ggd")
    return alpha, second


def aggd_features(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Asymmetric generalised-Gaussian fit over the last axis of ``v``: ``(α, left std, right std)``.

    The stds are the root mean squares of the negative and of the positive samples (NaN where a
    side has none, as in the reference code); α comes from the normalised moment ratio.
    """
    zero = torch.zeros((), dtype=v.dtype, device=v.device)
    neg, pos = v < 0, v > 0
    sq = v * v
    left = (torch.where(neg, sq, zero).sum(-1) / neg.sum(-1)).sqrt()
    right = (torch.where(pos, sq, zero).sum(-1) / pos.sum(-1)).sqrt()
    gh = left / right
    first = v.abs().mean(-1)
    rhat = first * first / sq.mean(-1)
    rhatnorm = rhat * (gh**3 + 1) * (gh + 1) / (gh**2 + 1) ** 2
    return _nearest_shape(rhatnorm, "aggd"), left, right


def gamma_ratio(alpha: torch.Tensor, num: float, den: float) -> torch.Tensor:
    """``Γ(num/α) / Γ(den/α)``."""
    return torch.exp(torch.lgamma(num / alpha) - torch.lgamma(den / alpha))


#: Pairwise-product directions (row, column shifts): horizontal, vertical, main and anti diagonal.
SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))
