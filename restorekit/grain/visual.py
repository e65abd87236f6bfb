"""A picture of measured grain: the scaling curve and the radial spectrum, drawn with torch.

:func:`grain_visual` draws one RGB panel per grain model: on the left the grain std (0-255 grey
levels) against luma (0-1), the model's piecewise-linear scaling function as a line and the measured
bins as dots; on the right the radial power spectrum of the luma grain, ``log10`` of the power
(convention of :mod:`restorekit.grain.spectrum`) against radial frequency 0-0.5 cycles/px; a caption
line with the class, its confidence, the mean grain std and the grain size. Lines and dots are masks
computed on pixel grids; text comes from :func:`restorekit.quality.compare.text_mask`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from ..errors import InvalidParameterError
from .model import GrainModel

if TYPE_CHECKING:
    from .analysis import GrainAnalysis

BACKGROUND = (0.10, 0.10, 0.11)
PLOT_BACKGROUND = (0.15, 0.15, 0.17)
AXIS = (0.65, 0.65, 0.68)
TEXT = (0.92, 0.92, 0.92)
CURVE = (1.0, 0.72, 0.20)
DOTS = (0.35, 0.80, 1.0)
SPECTRUM = (0.55, 0.95, 0.45)


def _paint(canvas: torch.Tensor, mask: torch.Tensor, color: tuple[float, float, float]) -> None:
    """Blend ``color`` into ``canvas`` ``[3, H, W]`` where ``mask`` ``[H, W]`` (0-1 coverage) says, in place."""
    c = torch.tensor(color, dtype=canvas.dtype, device=canvas.device)[:, None, None]
    canvas.mul_(1 - mask).add_(c * mask)


def _text(canvas: torch.Tensor, text: str, x0: int, y0: int, w: int, h: int,
          color: tuple[float, float, float] = TEXT) -> None:
    """Write ``text`` centred in the box ``(x0, y0, w, h)`` (clipped to the canvas)."""
    from ..quality.compare import text_mask

    _, hh, ww = canvas.shape
    xa, ya, xb, yb = max(0, x0), max(0, y0), min(ww, x0 + w), min(hh, y0 + h)
    if xb <= xa or yb <= ya:
        return
    m = torch.from_numpy(text_mask(text, w, h)).to(canvas)[ya - y0: yb - y0, xa - x0: xb - x0]
    sub = canvas[:, ya:yb, xa:xb]
    _paint(sub, m, color)


def _polyline(rows: torch.Tensor, y: torch.Tensor, thickness: float) -> torch.Tensor:
    """Coverage ``[H, W]`` of a curve given as one row position per column (``y`` ``[W]``, px, NaN = none):
    each column covers the span to its neighbours' positions, so steep parts stay connected."""
    prev = torch.cat([y[:1], y[:-1]])
    nxt = torch.cat([y[1:], y[-1:]])
    lo = torch.minimum(torch.minimum(prev, nxt), y)
    hi = torch.maximum(torch.maximum(prev, nxt), y)
    lo = torch.minimum(lo, (y + prev) / 2).nan_to_num(nan=math.inf)
    hi = torch.maximum(hi, (y + nxt) / 2).nan_to_num(nan=-math.inf)
    r = rows[:, None]
    half = thickness / 2
    return ((r >= lo[None] - half) & (r <= hi[None] + half)).to(rows.dtype)


def _dots(h: int, w: int, xs: torch.Tensor, ys: torch.Tensor, radius: float, like: torch.Tensor) -> torch.Tensor:
    """Coverage ``[h, w]`` of discs of ``radius`` px centred at ``(xs, ys)`` px."""
    if xs.numel() == 0:
        return torch.zeros(h, w, dtype=like.dtype, device=like.device)
    yy = torch.arange(h, dtype=like.dtype, device=like.device)[None, :, None]
    xx = torch.arange(w, dtype=like.dtype, device=like.device)[None, None, :]
    d2 = (yy - ys[:, None, None]) ** 2 + (xx - xs[:, None, None]) ** 2
    return (radius + 0.5 - d2.sqrt()).clamp(0, 1).amax(0)


def _nice_max(v: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k not below ``v`` (> 0)."""
    v = max(v, 1e-6)
    e = 10 ** math.floor(math.log10(v))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if m * e >= v * (1 - 1e-9):
            return m * e
    return 10 * e


def _fmt(v: float) -> str:
    return f"{v:.3g}"


class _Plot:
    """One plot area in a canvas: data ``[x0, x1] x [y0, y1]`` mapped to the box ``(left, top, w, h)`` px."""

    def __init__(self, canvas: torch.Tensor, left: int, top: int, w: int, h: int,
                 xr: tuple[float, float], yr: tuple[float, float]) -> None:
        self.canvas, self.left, self.top, self.w, self.h = canvas, left, top, w, h
        self.xr, self.yr = xr, yr

    def px(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.xr[0]) / (self.xr[1] - self.xr[0]) * (self.w - 1)

    def py(self, y: torch.Tensor) -> torch.Tensor:
        return (1 - (y - self.yr[0]) / (self.yr[1] - self.yr[0])) * (self.h - 1)

    @property
    def area(self) -> torch.Tensor:
        return self.canvas[:, self.top:self.top + self.h, self.left:self.left + self.w]

    def frame(self, xticks: Sequence[float], yticks: Sequence[float], xlabel: str, title: str) -> None:
        c, fh = self.canvas, max(9, min(16, self.h // 8))
        _paint(self.area, torch.ones(self.h, self.w, dtype=c.dtype, device=c.device), PLOT_BACKGROUND)
        c[:, self.top:self.top + self.h, self.left - 1] = torch.tensor(AXIS, dtype=c.dtype, device=c.device)[:, None]
        c[:, self.top + self.h, self.left - 1:self.left + self.w] = torch.tensor(AXIS, dtype=c.dtype,
                                                                                device=c.device)[:, None]
        for t in xticks:
            x = self.left + int(round(float(self.px(torch.tensor(t)))))
            c[:, self.top + self.h: self.top + self.h + 4, x] = torch.tensor(AXIS, dtype=c.dtype,
                                                                            device=c.device)[:, None]
            _text(c, _fmt(t), x - 20, self.top + self.h + 3, 40, fh)
        for t in yticks:
            y = self.top + int(round(float(self.py(torch.tensor(t)))))
            c[:, y, self.left - 5:self.left - 1] = torch.tensor(AXIS, dtype=c.dtype, device=c.device)[:, None]
            _text(c, _fmt(t), self.left - 40, y - fh // 2, 36, fh)
        _text(c, xlabel, self.left, self.top + self.h + 3 + fh, self.w, fh)
        _text(c, title, self.left, self.top - fh - 2, self.w, fh)

    def curve(self, xs: torch.Tensor, ys: torch.Tensor, color: tuple[float, float, float], thickness: float = 2.0
              ) -> None:
        """A line through ``(xs, ys)`` (data units, xs increasing), linearly interpolated per pixel column."""
        if xs.numel() == 0:
            return
        cols = torch.arange(self.w, dtype=self.canvas.dtype, device=self.canvas.device)
        xd = self.xr[0] + cols / max(self.w - 1, 1) * (self.xr[1] - self.xr[0])
        inside = (xd >= xs[0]) & (xd <= xs[-1])
        if xs.numel() == 1:
            yd = ys.expand_as(xd)
        else:
            i = (torch.searchsorted(xs.contiguous(), xd.contiguous(), right=True) - 1).clamp(0, xs.numel() - 2)
            t = ((xd - xs[i]) / (xs[i + 1] - xs[i]).clamp(min=1e-12)).clamp(0, 1)
            yd = ys[i] + (ys[i + 1] - ys[i]) * t
        yp = self.py(yd.clamp(self.yr[0], self.yr[1])).where(inside, torch.full_like(yd, math.nan))
        rows = torch.arange(self.h, dtype=self.canvas.dtype, device=self.canvas.device)
        _paint(self.area, _polyline(rows, yp, thickness), color)

    def dots(self, xs: torch.Tensor, ys: torch.Tensor, color: tuple[float, float, float], radius: float = 3.0
             ) -> None:
        _paint(self.area, _dots(self.h, self.w, self.px(xs), self.py(ys.clamp(*self.yr)), radius, self.canvas), color)


def _caption(model: GrainModel, analysis: GrainAnalysis | None) -> str:
    conf = f" ({analysis.confidence * 100:.0f}%)" if analysis is not None else ""
    std = _mean_std_255(model, analysis)
    text = f"{model.classification.replace('_', ' ')}{conf} | std {std:.2f} grey levels"
    if model.classification not in ("clean", "unknown"):
        text += f" | size {model.grain_size:.2f} px | channel corr {model.channel_correlation:.2f}"
    return text


def _mean_std_255(model: GrainModel, analysis: GrainAnalysis | None) -> float:
    if model.scaling_luma.is_zero:
        return 0.0
    if analysis is not None and analysis.plane_std:
        return analysis.plane_std[0] * 255.0
    ys = [y for _, y in model.scaling_luma.points]
    return sum(ys) / len(ys) * 255.0


def _draw(model: GrainModel, analysis: GrainAnalysis | None, width: int, height: int) -> torch.Tensor:
    dt = torch.float32
    canvas = torch.tensor(BACKGROUND, dtype=dt)[:, None, None].repeat(1, height, width)
    fh = max(9, min(16, height // 12))
    caption_h = fh + 6
    _text(canvas, _caption(model, analysis), 4, 2, width - 8, caption_h)
    half = width // 2
    left_margin, right_margin = 42, 10
    top = caption_h + fh + 6
    bottom = 2 * fh + 8
    ph = max(8, height - top - bottom)
    pw = max(8, half - left_margin - right_margin)

    # Scaling curve (grey levels vs luma).
    pts = model.scaling_luma.points
    dots = [(x, s) for x, s, _ in analysis.std_points] if analysis is not None else list(pts)
    ymax = _nice_max(1.15 * max([y * 255 for _, y in list(pts) + dots] + [0.5]))
    plot = _Plot(canvas, left_margin, top, pw, ph, (0.0, 1.0), (0.0, ymax))
    plot.frame((0.0, 0.5, 1.0), (0.0, ymax / 2, ymax), "luma", "grain std (grey levels)")
    if pts:
        xs = torch.tensor([0.0] + [x for x, _ in pts] + [1.0], dtype=dt)
        ys = torch.tensor([pts[0][1]] + [y for _, y in pts] + [pts[-1][1]], dtype=dt) * 255
        keep = torch.cat([xs[1:] > xs[:-1], torch.tensor([True])])
        plot.curve(xs[keep], ys[keep], CURVE)
    if dots:
        plot.dots(torch.tensor([x for x, _ in dots], dtype=dt), torch.tensor([s for _, s in dots], dtype=dt) * 255,
                  DOTS)

    # Radial spectrum (log10 power vs cycles/px).
    spec = torch.tensor(model.spectrum, dtype=torch.float64)
    if spec.numel():
        logp = spec.clamp(min=1e-12).log10().float()
        lo, hi = math.floor(float(logp.min())), math.ceil(float(logp.max()))
        hi = hi if hi > lo else lo + 1
    else:
        lo, hi = -6, -2
    plot2 = _Plot(canvas, half + left_margin, top, pw, ph, (0.0, 0.5), (float(lo), float(hi)))
    plot2.frame((0.0, 0.25, 0.5), (float(lo), float(hi)), "cycles/px", "log10 power")
    if spec.numel():
        n = spec.numel()
        fx = (torch.arange(n, dtype=dt) + 0.5) * 0.5 / n
        plot2.curve(fx, logp, SPECTRUM)
    else:
        _text(canvas, "no spectrum", half + left_margin, top + ph // 2 - fh, pw, 2 * fh)
    return canvas.clamp(0, 1)


def grain_visual(models: Sequence[GrainModel] | GrainModel, analyses: Sequence[GrainAnalysis] | None = None, *,
                 width: int = 512, height: int = 256) -> torch.Tensor:
    """One picture per model, ``[B, 3, height, width]`` float32 in [0, 1] on the CPU (see the module docstring).

    Args:
        models: grain models (one per image), e.g. from :func:`restorekit.grain.analysis.analyze_grain`.
        analyses: the matching :class:`~restorekit.grain.analysis.GrainAnalysis` (``return_info=True``) for the
            measured bin points and the class confidence; None = dots at the model's scaling points.
        width, height: size in px, at least 192 x 128.
    """
    if isinstance(models, GrainModel):
        models = [models]
    models = list(models)
    if not models or not all(isinstance(m, GrainModel) for m in models):
        raise InvalidParameterError("models", "expected one or more grain models.", "pass analyze_grain's output.")
    if analyses is not None and len(analyses) != len(models):
        raise InvalidParameterError("analyses", f"{len(analyses)} analyses for {len(models)} models.",
                                    "pass one analysis per model (analyze_grain(..., return_info=True)).")
    for name, v, lo in (("width", width, 192), ("height", height, 128)):
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= 4096:
            raise InvalidParameterError(name, f"must be a whole number of px in {lo}..4096, got {v!r}.",
                                        f"use e.g. {512 if name == 'width' else 256}.")
    infos = list(analyses) if analyses is not None else [None] * len(models)
    return torch.stack([_draw(m, a, width, height) for m, a in zip(models, infos, strict=True)])


__all__ = ["grain_visual"]
