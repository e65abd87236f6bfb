"""Physically based Boolean film grain (A. Newson, J. Delon, B. Galerne, "A Stochastic Film Grain
Model for Resolution-Independent Rendering", Computer Graphics Forum 2017).

Silver-halide grains are discs with log-normal radii (mean ``radius``, std ``radius_std``, px)
whose centres form a Poisson process; in a pixel of intensity ``u`` its density is
``lambda(u) = log(1 / (1 - u)) / (pi E[r^2])`` grains per px^2, so that the covered fraction is ``u``
(``P(not covered) = exp(-lambda pi E[r^2]) = 1 - u``). The rendered value is the covered fraction seen
through a Gaussian filter of std ``filter_sigma`` px.

Rendering, GPU-friendly and with no per-pixel Python: the discs of every pixel cell are drawn at once
(Poisson counts, uniform positions, log-normal radii), rasterised by one scatter per radius class
onto a canvas supersampled ``s`` times, and the Gaussian filter integral is evaluated by quadrature on
that canvas (two strided separable convolutions). The paper estimates the same integral by Monte
Carlo; quadrature gives the same value without Monte-Carlo noise. Intensities are clamped to
[0.02, 0.98] (grain exists at every level; the density diverges at 1).

Statistics (for normalisation and for the fast mode): the covariance of the coverage at distance
``d`` is ``(1 - u)^2 (exp(lambda E[A(r, d)]) - 1)`` with ``A`` the intersection area of two discs of
radius ``r`` at distance ``d``; filtering convolves it with the filter's autocorrelation (a Gaussian
of std ``sqrt(2) filter_sigma``). Its value at 0 is the grain variance, its width the correlation
length (the convention of :mod:`restorekit.grain.spectrum`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import InvalidParameterError
from .model import GrainModel, ScalingFunction
from .spectrum import length_from_lags

U_MIN, U_MAX = 0.02, 0.98
#: Default filter std, px: the rendering's blur at the image resolution.
FILTER_SIGMA = 0.5
#: Default radius spread (std / mean) of the log-normal radii.
RADIUS_SPREAD = 0.25
_QUANTILES = 24


@dataclass(frozen=True)
class BooleanParameters:
    """The Boolean model of a :class:`GrainModel`: mean radius, radius std and filter std (px), and
    the correlation length (px) of the rendered grain at intensity 0.5."""

    radius: float
    radius_std: float
    filter_sigma: float
    correlation_length: float


def _lognormal(radius: float, radius_std: float) -> tuple[float, float]:
    s2 = math.log1p((radius_std / radius) ** 2)
    return math.log(radius) - s2 / 2, math.sqrt(s2)


def _radius_cap(radius: float, radius_std: float) -> float:
    m, s = _lognormal(radius, radius_std)
    return math.exp(m + 3 * s)


def _mean_r2(radius: float, radius_std: float) -> float:
    return radius**2 + radius_std**2


def _check(radius: float, radius_std: float, filter_sigma: float) -> None:
    if not (math.isfinite(radius) and 0.05 <= radius <= 16):
        raise InvalidParameterError("radius", f"must be in [0.05, 16] px, got {radius}.", "give e.g. 0.8.")
    if not (math.isfinite(radius_std) and 0 <= radius_std <= 2 * radius):
        raise InvalidParameterError("radius_std", f"must be in [0, 2 x radius], got {radius_std}.", "give 0.25 x radius.")
    if not (math.isfinite(filter_sigma) and 0.1 <= filter_sigma <= 8):
        raise InvalidParameterError("filter_sigma", f"must be in [0.1, 8] px, got {filter_sigma}.", "give e.g. 0.5.")


@functools.lru_cache(maxsize=256)
def _statistics(radius: float, radius_std: float, filter_sigma: float, levels: int = 49) -> tuple[torch.Tensor, ...]:
    """``(u, std(u), correlation_length(u))`` float64 on ``levels`` intensities in [U_MIN, U_MAX]."""
    m, s = _lognormal(radius, radius_std) if radius_std > 0 else (math.log(radius), 0.0)
    z = torch.special.ndtri((torch.arange(_QUANTILES, dtype=torch.float64) + 0.5) / _QUANTILES)
    radii = torch.exp(m + s * z).clamp(max=_radius_cap(radius, radius_std) if radius_std > 0 else radius)
    er2 = float((radii**2).mean())
    step = min(0.125, radius / 4, filter_sigma / 3)
    extent = 2 * float(radii.max()) + 5 * math.sqrt(2) * filter_sigma + 2  # covariance support, px
    n = int(2 * math.ceil(extent / step))
    d1 = (torch.arange(n, dtype=torch.float64) - n // 2) * step
    d = torch.sqrt(d1[:, None] ** 2 + d1[None, :] ** 2)
    r = radii[:, None, None]
    half = (d / (2 * r)).clamp(max=1.0)
    inter = 2 * r**2 * torch.acos(half) - d * torch.sqrt((4 * r**2 - d**2).clamp(min=0)) / 2
    k_area = inter.mean(0)  # E_r[A(r, d)]
    u = torch.linspace(U_MIN, U_MAX, levels, dtype=torch.float64) if levels > 1 else torch.tensor([0.5], dtype=torch.float64)
    lam = -torch.log1p(-u) / (math.pi * er2)
    cov = (1 - u)[:, None, None] ** 2 * torch.expm1(lam[:, None, None] * k_area)
    psi = torch.exp(-(d**2) / (4 * filter_sigma**2)) / (4 * math.pi * filter_sigma**2) * step**2
    kernel = torch.fft.fft2(torch.fft.ifftshift(psi))
    cf = torch.fft.ifft2(torch.fft.fft2(torch.fft.ifftshift(cov, dim=(-2, -1))) * kernel).real
    var = cf[:, 0, 0].clamp(min=0)
    lag_idx = [round(k / step) for k in range(1, min(16, int(extent) - 1) + 1)]
    rho = cf[:, 0, lag_idx] / var[:, None].clamp(min=1e-30)
    return u, var.sqrt(), length_from_lags(rho)


def boolean_statistics(u: torch.Tensor, radius: float, radius_std: float | None = None,
                       filter_sigma: float = FILTER_SIGMA) -> tuple[torch.Tensor, torch.Tensor]:
    """Std (coverage units, [0, 1]) and correlation length (px) of the rendered Boolean grain at the
    intensities ``u`` (any shape, clamped to [0.02, 0.98]), same shape/dtype/device as ``u``."""
    radius_std = RADIUS_SPREAD * radius if radius_std is None else radius_std
    _check(radius, radius_std, filter_sigma)
    us, std, length = (t.to(device=u.device, dtype=u.dtype) for t in _statistics(radius, radius_std, filter_sigma))
    t = (u.clamp(U_MIN, U_MAX) - U_MIN) / (U_MAX - U_MIN) * (us.numel() - 1)
    i0 = t.floor().long().clamp(0, us.numel() - 2)
    w = t - i0
    return std[i0] * (1 - w) + std[i0 + 1] * w, length[i0] * (1 - w) + length[i0 + 1] * w


def radius_for_size(size: float, filter_sigma: float = FILTER_SIGMA) -> float:
    """The mean disc radius (px) whose Boolean grain has correlation length ``size`` px at intensity 0.5
    (the smallest radius tried, 0.1 px, when ``size`` is below what the filter alone gives)."""
    return _radius_for_size(round(float(size), 6), float(filter_sigma))


@functools.lru_cache(maxsize=64)
def _radius_for_size(size: float, filter_sigma: float) -> float:
    lo, hi = 0.1, 12.0

    def length(r: float) -> float:
        return float(_statistics(r, RADIUS_SPREAD * r, filter_sigma, 1)[2][0])

    if length(lo) >= size:
        return lo
    if length(hi) <= size:
        return hi
    for _ in range(22):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if length(mid) < size else (lo, mid)
    return math.sqrt(lo * hi)


def boolean_parameters(model: GrainModel) -> BooleanParameters:
    """The Boolean model of ``model``: ``grain_radius`` (or the radius that gives ``grain_size``), a radius
    spread of 0.25 and filter std 0.5 px unless the model's ``av1`` dict carries ``boolean_radius_std`` /
    ``boolean_filter_sigma``."""
    extra = model.av1 or {}
    sigma = float(extra.get("boolean_filter_sigma", FILTER_SIGMA))
    r = model.grain_radius if model.grain_radius > 0 else radius_for_size(model.grain_size, sigma)
    r_std = float(extra.get("boolean_radius_std", RADIUS_SPREAD * r))
    length = float(boolean_statistics(torch.tensor([0.5], dtype=torch.float64), r, r_std, sigma)[1][0])
    return BooleanParameters(r, r_std, sigma, length)


def boolean_scaling(intensity: float, radius: float, points: int = 13) -> ScalingFunction:
    """The Boolean model's own std curve, scaled to ``intensity`` at mid-grey ([0, 1] units)."""
    u = torch.linspace(0.0, 1.0, points, dtype=torch.float64)
    std, _ = boolean_statistics(u, radius)
    mid = float(boolean_statistics(torch.tensor([0.5], dtype=torch.float64), radius)[0][0])
    return ScalingFunction(tuple((float(a), float(b) * intensity / mid) for a, b in zip(u, std, strict=True)))


def _supersample(radius: float, filter_sigma: float) -> int:
    s = math.ceil(max(3.0 / radius, 2.0 / filter_sigma))
    return int(min(8, max(2, s + (s % 2))))


def render_boolean(u: torch.Tensor, *, radius: float, radius_std: float | None = None,
                   filter_sigma: float = FILTER_SIGMA, seeds: list[int] | None = None, seed: int = 0,
                   supersample: int | None = None) -> torch.Tensor:
    """Render the Boolean grain of intensity maps ``u`` ``[B, 1, H, W]`` in [0, 1]: the filtered covered
    fraction, same shape, float32 (float64 for float64 input); its mean is ``u`` (clamped to [0.02, 0.98]).

    ``seeds``: one generator seed per image (default ``seed + i``); ``supersample``: canvas sub-pixels
    per px (even, default from the radius and filter).
    """
    radius_std = RADIUS_SPREAD * radius if radius_std is None else radius_std
    _check(radius, radius_std, filter_sigma)
    b, _, h, w = u.shape
    seeds = [seed + i for i in range(b)] if seeds is None else seeds
    dev = u.device
    dtype = torch.float64 if u.dtype == torch.float64 else torch.float32
    s = _supersample(radius, filter_sigma) if supersample is None else int(supersample)
    if s < 2 or s % 2:
        raise InvalidParameterError("supersample", f"must be an even integer >= 2, got {s}.", "give e.g. 4.")
    cap = _radius_cap(radius, radius_std) if radius_std > 0 else radius
    m_ln, s_ln = _lognormal(radius, radius_std) if radius_std > 0 else (math.log(radius), 0.0)
    margin = math.ceil(3 * filter_sigma) + 1  # canvas margin, px
    pad = margin + math.ceil(cap)  # cells whose discs can reach the canvas
    taps = math.ceil(3 * filter_sigma * s)
    offs = (torch.arange(2 * taps, device=dev, dtype=dtype) - taps + 0.5) / s
    kern = torch.exp(-offs**2 / (2 * filter_sigma**2))
    kern = kern / kern.sum()
    uc = F.pad(u.to(dtype).clamp(U_MIN, U_MAX), (pad, pad, pad, pad), mode="replicate")
    lam = -torch.log1p(-uc) / (math.pi * _mean_r2(radius, radius_std))
    hp, wp = uc.shape[-2:]
    ch, cw = (h + 2 * margin) * s, (w + 2 * margin) * s
    out = []
    for i in range(b):
        gen = torch.Generator(device=dev).manual_seed(int(seeds[i]))
        counts = torch.poisson(lam[i, 0], generator=gen).long().flatten()
        n = int(counts.sum())  # one sync per frame: the number of discs
        cell = torch.repeat_interleave(torch.arange(hp * wp, device=dev), counts)
        jitter = torch.rand(n, 2, generator=gen, device=dev, dtype=dtype)
        r = torch.exp(m_ln + s_ln * torch.randn(n, generator=gen, device=dev, dtype=dtype)).clamp(max=cap)
        # disc centres in canvas sub-pixels
        cy = ((cell // wp).to(dtype) + jitter[:, 0] - (pad - margin)) * s
        cx = ((cell % wp).to(dtype) + jitter[:, 1] - (pad - margin)) * s
        rs = r * s
        canvas = torch.zeros(ch * cw, device=dev, dtype=dtype)
        box = torch.ceil(rs).long()
        for k in torch.unique(box).tolist():
            sel = torch.nonzero(box == k).flatten()
            span = torch.arange(-k, k + 1, device=dev)
            per = (2 * k + 1) ** 2
            chunk = max(1, (1 << 24) // per)
            for start in range(0, sel.numel(), chunk):
                idx = sel[start:start + chunk]
                qy = cy[idx].floor().long()[:, None, None] + span[None, :, None]
                qx = cx[idx].floor().long()[:, None, None] + span[None, None, :]
                inside = ((qy.to(dtype) + 0.5 - cy[idx, None, None]) ** 2
                          + (qx.to(dtype) + 0.5 - cx[idx, None, None]) ** 2) <= rs[idx, None, None] ** 2
                inside &= (qy >= 0) & (qy < ch) & (qx >= 0) & (qx < cw)
                canvas[(qy * cw + qx)[inside]] = 1.0
        img = canvas.view(1, 1, ch, cw)
        start = margin * s + s // 2 - taps
        img = img[..., start:, start:]
        img = F.conv2d(img, kern.view(1, 1, 1, -1), stride=(1, s))[..., :w]
        img = F.conv2d(img, kern.view(1, 1, -1, 1), stride=(s, 1))[..., :h, :]
        out.append(img.clamp_(0.0, 1.0))  # a fully covered pixel can sum its filter weights to 1 + 1 ulp
    return torch.cat(out, 0)


def boolean_patterns(luma: torch.Tensor, model: GrainModel, *, seeds: list[int], planes: int = 1,
                     frame_correlation: float = 0.0) -> torch.Tensor:
    """Unit-variance Boolean grain patterns ``[B, planes, H, W]`` driven by ``luma`` ``[B, 1, H, W]``:
    ``(render - u) / std(u)`` per plane (independent renders for Cb and Cr). Consecutive frames are
    mixed as ``rho p_(t-1) + sqrt(1 - rho^2) p_t`` when ``frame_correlation`` = rho > 0."""
    par = boolean_parameters(model)
    u = luma.clamp(U_MIN, U_MAX)
    std, _ = boolean_statistics(u, par.radius, par.radius_std, par.filter_sigma)
    out = []
    for p in range(planes):
        plane_seeds = [(sd + 0x5DEECE66D * p) & ((1 << 63) - 1) for sd in seeds]
        f = render_boolean(u, radius=par.radius, radius_std=par.radius_std, filter_sigma=par.filter_sigma,
                           seeds=plane_seeds)
        out.append((f - u) / std.clamp(min=1e-6))
    pat = torch.cat(out, 1)
    rho = float(frame_correlation)
    if rho > 0 and pat.shape[0] > 1:
        frames = [pat[0]]
        for t in range(1, pat.shape[0]):
            frames.append(rho * frames[-1] + math.sqrt(1 - rho * rho) * pat[t])
        pat = torch.stack(frames)
    return pat


__all__ = ["BooleanParameters", "boolean_parameters", "boolean_patterns", "boolean_scaling", "boolean_statistics",
           "radius_for_size", "render_boolean"]
