"""Grain-aware removal: take a measured grain off an image and keep the grain layer that was taken off.

Grain of a :class:`~restorekit.grain.model.GrainModel` is ``s(Y) p`` on luma ``Y``: a stationary
unit-variance pattern ``p`` of known spectrum, scaled by a function ``s`` of the local intensity.
A denoiser for stationary noise sees it after a *variance-stabilising transform* of the luma plane,

    ``F(y) = c integral_0^y dt / s(t)``,  ``c = 1 / integral_0^1 dt / s(t)``  (so ``F`` maps [0, 1] onto [0, 1]),

because ``F(Y + s(Y) p) ~ F(Y) + c p``: the grain becomes the stationary pattern ``c p`` with the
model's spectrum times ``c^2``. The luma is denoised in that domain and mapped back with ``F^-1``;
the second-order bias of the transform, ``E F(Y + n) - F(Y) = F''(Y) s^2 / 2``, is taken off in the
luma domain as ``+ s(y) s'(y) / 2``. ``s`` is floored at a tenth of its maximum (and 0.25 grey
levels) so that ``F`` has a bounded slope where the model has almost no grain. One denoiser call
covers the batch; measured on CBSD68 crops with film-like AR grain (std 8 grey levels), this beat
denoising with the PSD at the mean grain variance and a 4-band intensity split blended by the
luma (four BM3D runs), see ``tests/grain/test_removal.py``.

Chroma grain (models with Cb/Cr scaling) depends on luma, not on the chroma value, so no transform
of the chroma plane stabilises it: the Cb and Cr planes are denoised with their own pattern's
spectrum at the plane's mean grain variance over the image (when that std exceeds 1 grey level). Luma-only grain (the usual case, the
same offset in R, G and B) leaves the chroma planes untouched.

Methods: ``bm3d`` (coloured-noise BM3D with the model's pattern spectrum, from its AR coefficients,
else a Gaussian of its grain size, else white), ``wavelet`` and ``nlm`` (white-noise denoisers at
the transformed grain std ``c``), ``model`` (a connected restoration network, run with the grain's
per-pixel std ``s(Y)`` as its noise map; noise-conditional networks use it, others ignore it).

Units: image values, stds and intensities in [0, 1] (x 255 for grey levels), lengths in pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..color import rgb_to_ycbcr, ycbcr_to_rgb
from ..errors import InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report, scaled
from .analysis import causal_offsets
from .model import GrainModel, ScalingFunction

#: Removal methods of :func:`remove_grain`.
METHODS = ("bm3d", "wavelet", "nlm", "model")
#: Grid of the tabulated transform ``F`` (points over [0, 1]).
_TABLE = 1025
#: Floor of ``s`` for the transform: this share of the largest std, and at least this many grey levels.
_FLOOR_SHARE = 0.1
_FLOOR_255 = 0.25
#: Side of the PSD grid handed to BM3D (the grain's spectrum is smooth; BM3D resamples it).
_PSD_GRID = 64
#: Chroma grain below this std (0-255 grey levels) is left alone.
_CHROMA_MIN_255 = 1.0


@dataclass
class GrainRemoval:
    """What :func:`remove_grain` did, per image: the model used, the grain std over the image
    (``sqrt(mean s(Y)^2)``, [0, 1] units), the stabilised grain std ``c`` of the luma plane, and
    whether the chroma planes were filtered."""

    models: list[GrainModel]
    method: str
    grain_std: list[float]
    transformed_std: list[float]
    chroma: list[bool]
    preservation: float


# ---- models and spectra -------------------------------------------------------------------------------------------


def _resolve_models(x: torch.Tensor, model: GrainModel | Sequence[GrainModel] | None,
                    progress: ProgressCallback | None) -> list[GrainModel]:
    b = x.shape[0]
    if model is None:
        from .analysis import analyze_grain

        return list(analyze_grain(x, progress=scaled(progress, 0, 5, 100)))  # the first 5 steps of remove_grain's bar
    if isinstance(model, GrainModel):
        return [model] * b
    models = list(model)
    if not all(isinstance(m, GrainModel) for m in models):
        raise InvalidParameterError("model", "must be a GrainModel or a sequence of them.",
                                    "connect Grain Analyze, or leave it empty to analyse the image.")
    if len(models) == 1:
        return models * b
    if len(models) != b:
        raise InvalidParameterError("model", f"{len(models)} grain models for a batch of {b} images.",
                                    "give one model for all images, or one per image.")
    return models


def _pattern_psd(ar: tuple[float, ...], lag: int, size: float, h: int, w: int, device: torch.device) -> torch.Tensor:
    """Unit-mean PSD ``[h, w]`` (full FFT grid, float32) of a unit-variance pattern: AR coefficients (AV1 order)
    when given, else white noise blurred by a Gaussian of std ``size`` px, else white."""
    fy = torch.fft.fftfreq(h, device=device, dtype=torch.float64)
    fx = torch.fft.fftfreq(w, device=device, dtype=torch.float64)
    if ar and lag > 0:
        a = torch.zeros(lag + 1, 2 * lag + 1, dtype=torch.float64)
        for (dy, dx), coef in zip(causal_offsets(lag), ar, strict=False):
            a[dy + lag, dx + lag] = coef
        dys = torch.arange(-lag, 1, device=device, dtype=torch.float64)
        dxs = torch.arange(-lag, lag + 1, device=device, dtype=torch.float64)
        ey = torch.polar(torch.ones(h, lag + 1, device=device, dtype=torch.float64), 2 * math.pi * fy[:, None] * dys)
        ex = torch.polar(torch.ones(w, 2 * lag + 1, device=device, dtype=torch.float64),
                         2 * math.pi * fx[:, None] * dxs)
        big_a = ey @ a.to(device=device, dtype=ey.dtype) @ ex.T
        psd = 1.0 / (1.0 - big_a).abs().square().clamp(min=1e-12)
    elif size > 0:
        psd = torch.exp(-4 * math.pi**2 * size**2 * (fy[:, None] ** 2 + fx[None, :] ** 2))
    else:
        psd = torch.ones(h, w, device=device, dtype=torch.float64)
    return (psd / psd.mean()).float()


def _table(s: ScalingFunction, grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """``(F(grid), s(grid) s'(grid) / 2, c)`` of the variance-stabilising transform (module docstring)."""
    sg = s(grid)
    floor = max(_FLOOR_SHARE * float(sg.max()), _FLOOR_255 / 255.0)
    sf = sg.clamp(min=floor)
    inv = 1.0 / sf
    step = grid[1] - grid[0]
    cum = torch.cat([torch.zeros(1, dtype=grid.dtype, device=grid.device),
                     torch.cumsum((inv[1:] + inv[:-1]) * (step / 2), 0)])
    c = 1.0 / float(cum[-1])
    slope = torch.gradient(sg, spacing=(grid,))[0]
    return cum * c, 0.5 * sg * slope, c


def _lookup(xs: torch.Tensor, ys: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear ``ys(xs)`` at ``t`` per image: xs, ys ``[B, N]`` increasing xs, t ``[B, 1, H, W]``."""
    b, n = xs.shape
    flat = t.reshape(b, -1)
    tc = torch.maximum(torch.minimum(flat, xs[:, -1:]), xs[:, :1])
    i = (torch.searchsorted(xs.contiguous(), tc.contiguous(), right=True) - 1).clamp(0, n - 2)
    x0, x1, y0, y1 = xs.gather(1, i), xs.gather(1, i + 1), ys.gather(1, i), ys.gather(1, i + 1)
    return (y0 + (y1 - y0) * (tc - x0) / (x1 - x0).clamp(min=1e-12)).reshape(t.shape)


# ---- denoisers ----------------------------------------------------------------------------------------------------


def _denoise_planes(z: torch.Tensor, method: str, std: torch.Tensor, psd: torch.Tensor,
                    progress: ProgressCallback | None) -> torch.Tensor:
    """Denoise gray planes ``z`` ``[N, 1, H, W]`` in [0, 1] carrying stationary grain of std ``std`` ``[N]``
    and unit-mean PSD ``psd`` ``[N, 1, h, w]``."""
    if method == "bm3d":
        from ..denoise.bm3d import bm3d_denoise

        return bm3d_denoise(z, noise_psd=psd * std.square().view(-1, 1, 1, 1).to(psd), progress=progress)
    if method == "nlm":
        from ..denoise.nlm import nlm_denoise

        return nlm_denoise(z, sigma=std.to(z.dtype), progress=progress)
    from ..denoise.wavelet import wavelet_denoise

    # PyWavelets works image by image anyway; each plane gets its own threshold scale.
    n = z.shape[0]
    return torch.cat([wavelet_denoise(z[i: i + 1], sigma=float(std[i]), progress=scaled(progress, i, 1, n))
                      for i in range(n)])


def _model_removal(x: torch.Tensor, models: list[GrainModel], restoration_model: object,
                   progress: ProgressCallback | None) -> torch.Tensor:
    from ..models.restore import restore_with_model

    y = x[:, :1] if x.shape[1] == 1 else rgb_to_ycbcr(x)[:, :1]
    noise_map = torch.cat([m.scaling_luma(y[i: i + 1]) for i, m in enumerate(models)])
    out = restore_with_model(restoration_model, x, noise_map=noise_map, progress=progress)
    if out.shape != x.shape:
        raise InvalidParameterError(
            "restoration_model", f"the model changes the image size ({tuple(x.shape)} -> {tuple(out.shape)}).",
            "connect a denoising model (scale 1), not a super-resolution model.")
    return out


# ---- the public function ------------------------------------------------------------------------------------------


def remove_grain(
    x: torch.Tensor,
    *,
    model: GrainModel | Sequence[GrainModel] | None = None,
    method: str = "bm3d",
    preservation: float = 0.0,
    restoration_model: object | None = None,
    progress: ProgressCallback | None = None,
    return_info: bool = False,
) -> tuple[torch.Tensor, torch.Tensor] | tuple[torch.Tensor, torch.Tensor, GrainRemoval]:
    """Remove the grain described by ``model`` from ``x`` ``[B, C, H, W]`` (C = 1 or 3, sRGB, [0, 1]).

    Args:
        model: the grain, one :class:`GrainModel` for the batch or one per image; None = analyse each
            image blind (:func:`~restorekit.grain.analysis.analyze_grain`).
        method: ``bm3d`` (coloured-noise BM3D with the grain's spectrum), ``wavelet``, ``nlm`` (white-noise
            denoisers at the stabilised grain std) or ``model`` (``restoration_model``, with the grain's
            per-pixel std as noise map); see the module docstring.
        preservation: share of the grain kept, 0-1: 0 removes it all, 1 returns the input unchanged.
        restoration_model: a loaded restoration model (Load Restoration Model), for ``method="model"``.
        progress: called with ``(step, total)``.
        return_info: also return a :class:`GrainRemoval`.

    Returns:
        ``(removed, layer)``, both with the shape, dtype and device of ``x``: ``removed`` in [0, 1] and the
        signed grain ``layer = x - removed`` (in [-1, 1]); ``removed + layer == x`` to rounding. With
        ``preservation p`` the removed image is ``removed_0 + p layer_0`` and the layer ``(1 - p) layer_0``.
        Images whose model has no grain come back unchanged with a zero layer.
    """
    check_image(x, "image")
    if method not in METHODS:
        raise InvalidParameterError("method", f"{method!r} is not a removal method.", f"use one of {METHODS}.")
    p = float(preservation)
    if not math.isfinite(p) or not 0.0 <= p <= 1.0:
        raise InvalidParameterError("preservation", f"must be in [0, 1], got {preservation}.",
                                    "0 removes all the grain, 1 keeps it all.")
    if method == "model" and restoration_model is None:
        raise InvalidParameterError("restoration_model", "method 'model' needs a restoration model.",
                                    "connect Load Restoration Model, or pick another method.")
    b, c, h, w = x.shape
    dt = torch.float64 if x.dtype == torch.float64 else torch.float32
    xf = x.to(dt)
    models = _resolve_models(x, model, progress)
    y = xf[:, :1] if c == 1 else rgb_to_ycbcr(xf)[:, :1]
    grain_std = [float(m.scaling_luma(y[i]).square().mean().sqrt()) for i, m in enumerate(models)]
    has = [not m.scaling_luma.is_zero for m in models]
    # Chroma planes are filtered only where the model's chroma grain is visible (a blind analysis of luma-only
    # grain measures a trace of chroma grain; filtering it would triple the cost for nothing).
    chroma = [c == 3 and max(float(m.scaling_cb(y[i]).square().mean().sqrt()),
                             float(m.scaling_cr(y[i]).square().mean().sqrt())) * 255 > _CHROMA_MIN_255
              for i, m in enumerate(models)]
    cstd = [0.0] * b
    # One bar: the analysis 5 steps, the denoiser's own progress mapped onto the next 90, the blend the rest.
    total = 100
    report(progress, 5, total)
    sub = scaled(progress, 5, 90, total)

    if p >= 1.0 or not any(has) and not any(chroma):
        removed = xf.clone()
    elif method == "model":
        removed = _model_removal(xf, models, restoration_model, sub)
    else:
        removed, cstd = _filter(xf, models, method, has, chroma, sub)
    report(progress, 95, total)

    removed = removed.clamp(0.0, 1.0)
    keep = torch.tensor([hs or ch for hs, ch in zip(has, chroma, strict=True)], device=x.device).view(b, 1, 1, 1)
    removed = torch.where(keep, removed, xf)
    layer = xf - removed
    if 0.0 < p < 1.0:
        removed = removed + p * layer
        layer = (1.0 - p) * layer
    elif p >= 1.0:
        removed, layer = xf.clone(), torch.zeros_like(xf)
    report(progress, total, total)
    out = removed.to(x.dtype), layer.to(x.dtype)
    if return_info:
        return (*out, GrainRemoval(models, method, grain_std, cstd, chroma, p))
    return out


def _filter(xf: torch.Tensor, models: list[GrainModel], method: str, has: list[bool], chroma: list[bool],
            progress: ProgressCallback | None) -> tuple[torch.Tensor, list[float]]:
    """The classical route (module docstring): stabilised luma plus chroma planes, one denoiser call."""
    b, c, h, w = xf.shape
    planes = xf if c == 1 else rgb_to_ycbcr(xf)
    y = planes[:, :1]
    grid = torch.linspace(0.0, 1.0, _TABLE, device=xf.device, dtype=torch.float64)
    tables = [_table(m.scaling_luma if hs else ScalingFunction.constant(1.0), grid)
              for m, hs in zip(models, has, strict=True)]
    f_tab = torch.stack([t[0] for t in tables]).to(xf.dtype)
    bias = torch.stack([t[1] for t in tables]).to(xf.dtype)
    cs = [t[2] for t in tables]
    grid_b = grid.to(xf.dtype).expand(b, -1).contiguous()
    yt = _lookup(grid_b, f_tab, y).clamp(0.0, 1.0)

    ph, pw = min(h, _PSD_GRID), min(w, _PSD_GRID)
    z = [yt]
    stds = [torch.tensor(cs, dtype=torch.float64)]
    psds = [torch.stack([_pattern_psd(m.ar_luma, m.ar_lag, m.grain_size, ph, pw, xf.device) for m in models])]
    rows = [i for i in range(b) if chroma[i]]
    if rows:
        for k, name in ((1, "cb"), (2, "cr")):
            z.append(planes[rows, k: k + 1])
            stds.append(torch.tensor([float(getattr(models[i], f"scaling_{name}")(y[i]).square().mean().sqrt())
                                      for i in rows], dtype=torch.float64))
            psds.append(torch.stack([
                _pattern_psd(tuple(getattr(models[i], f"ar_{name}"))[:-1], models[i].ar_lag, models[i].grain_size,
                             ph, pw, xf.device) for i in rows]))
    std = torch.cat(stds).clamp(min=1e-6)
    zt = torch.cat(z).clamp(0.0, 1.0)
    den = _denoise_planes(zt.to(torch.float32) if xf.dtype != torch.float64 else zt, method, std,
                          torch.cat(psds)[:, None], progress).to(xf.dtype)

    yd = _lookup(f_tab, grid_b, den[:b])
    yd = yd + _lookup(grid_b, bias, yd)
    yd = torch.where(torch.tensor(has, device=xf.device).view(b, 1, 1, 1), yd, y)
    if c == 1:
        return yd, cs
    new = planes.clone()
    new[:, :1] = yd
    if rows:
        n = len(rows)
        idx = torch.tensor(rows, device=xf.device)
        new[idx, 1:2] = den[b: b + n]
        new[idx, 2:3] = den[b + n: b + 2 * n]
    return ycbcr_to_rgb(new), cs


__all__ = ["METHODS", "GrainRemoval", "remove_grain"]
