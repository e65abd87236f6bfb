"""The grain model: what Grain Analyze measures and Grain Add / Grain Match synthesise.

A :class:`GrainModel` travels between nodes as the ``GRAIN`` socket and is the one description
of grain in restorekit. It follows the AV1 film-grain model (an auto-regressive pattern of lag
0-3 per plane, scaled by a piecewise-linear function of the local intensity) so that it can be
exported to an AV1 encoder's film-grain table, and adds what AV1 has no room for (grain size,
channel correlation, the radial spectrum, a Boolean-model grain radius, a classification).

Units: intensities and grain standard deviations are in [0, 1] image units (multiply by 255 for
8-bit grey levels); lengths are in pixels. Planes are Y (luma), Cb and Cr of BT.601 YCbCr, as in
AV1's film-grain model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import torch

from ..errors import InvalidParameterError

#: Grain classes Grain Analyze tells apart.
CLASSES = ("film_grain", "sensor_noise", "synthetic_overlay", "clean", "unknown")
#: Ways Grain Add can synthesise a model's grain.
SYNTHESES = ("ar", "boolean", "gaussian")
MAX_AR_LAG = 3
MAX_SCALING_POINTS = 14


def ar_coefficient_count(lag: int, chroma: bool = False) -> int:
    """Number of AR coefficients of a plane: ``2 lag (lag + 1)`` causal neighbours, plus one luma
    coefficient for a chroma plane (AV1 order: raster order of the causal neighbourhood rows
    ``-lag..0``, columns ``-lag..lag``, stopping before the current sample)."""
    return 2 * lag * (lag + 1) + (1 if chroma else 0)


@dataclass(frozen=True)
class ScalingFunction:
    """Grain standard deviation as a piecewise-linear function of intensity.

    ``points``: ``(intensity, std)`` pairs, intensity strictly increasing in [0, 1], std >= 0, both
    in [0, 1] image units. Constant beyond the first and last points; no points = no grain.
    """

    points: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        pts = tuple((float(x), float(y)) for x, y in self.points)
        object.__setattr__(self, "points", pts)
        xs = [x for x, _ in pts]
        increasing = all(b > a for a, b in zip(xs, xs[1:], strict=False))
        if any(not (0.0 <= x <= 1.0) or not math.isfinite(x) for x in xs) or not increasing:
            raise InvalidParameterError(
                "scaling", f"intensities must increase strictly within [0, 1], got {xs}.", "sort and deduplicate them."
            )
        if any(not (0.0 <= y < math.inf) for _, y in pts):
            raise InvalidParameterError("scaling", "grain standard deviations must be finite and >= 0.", "fix the points.")

    @classmethod
    def constant(cls, std: float) -> ScalingFunction:
        """The same grain std at every intensity."""
        return cls(((0.0, std), (1.0, std)))

    @property
    def is_zero(self) -> bool:
        return not self.points or all(y == 0 for _, y in self.points)

    def __call__(self, intensity: torch.Tensor) -> torch.Tensor:
        """The std at each value of ``intensity`` (any shape, any device), same shape and dtype."""
        if not self.points:
            return torch.zeros_like(intensity)
        xs = torch.tensor([p[0] for p in self.points], dtype=intensity.dtype, device=intensity.device)
        ys = torch.tensor([p[1] for p in self.points], dtype=intensity.dtype, device=intensity.device)
        if len(self.points) == 1:
            return ys[0].expand_as(intensity).clone()
        t = intensity.clamp(xs[0], xs[-1])
        i = (torch.searchsorted(xs, t.contiguous(), right=True) - 1).clamp(0, len(xs) - 2)
        x0, x1, y0, y1 = xs[i], xs[i + 1], ys[i], ys[i + 1]
        return y0 + (y1 - y0) * (t - x0) / (x1 - x0)


@dataclass(frozen=True)
class GrainModel:
    """A grain description (see the module docstring for units).

    AR pattern: ``ar_luma`` has ``ar_coefficient_count(ar_lag)`` coefficients, ``ar_cb`` and
    ``ar_cr`` one more each (the last weighs the co-located luma grain); empty tuples = white
    (lag 0). Scaling: ``scaling_luma`` (std vs luma); ``scaling_cb`` / ``scaling_cr`` (std vs the
    chroma plane's intensity index of AV1, here simply vs luma unless ``chroma_from_luma``); a
    zero function means no grain in that plane. ``av1`` keeps the AV1-only fields (shifts,
    cb/cr multipliers, overlap, clipping, seed, time range) of an imported table so that export
    reproduces it exactly; empty for a measured model.
    """

    ar_lag: int = 0
    ar_luma: tuple[float, ...] = ()
    ar_cb: tuple[float, ...] = ()
    ar_cr: tuple[float, ...] = ()
    scaling_luma: ScalingFunction = field(default_factory=ScalingFunction)
    scaling_cb: ScalingFunction = field(default_factory=ScalingFunction)
    scaling_cr: ScalingFunction = field(default_factory=ScalingFunction)
    chroma_from_luma: bool = False
    #: Correlation length of the grain, px: std of the Gaussian filter that white noise would need
    #: to have the measured autocorrelation width (0 = white).
    grain_size: float = 0.0
    #: Mean grain (disc) radius for the Boolean model, px (0 = derive it from ``grain_size``).
    grain_radius: float = 0.0
    #: Mean correlation of the grain between colour channels (R, G, B), in [-1, 1].
    channel_correlation: float = 1.0
    #: Radial power spectrum of the luma grain: power per radial frequency bin, bins evenly spaced
    #: from 0 to 0.5 cycles/px; empty = not measured.
    spectrum: tuple[float, ...] = ()
    classification: str = "unknown"
    synthesis: str = "ar"
    av1: dict[str, Any] = field(default_factory=dict)
    notes: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.ar_lag, int) or not 0 <= self.ar_lag <= MAX_AR_LAG:
            raise InvalidParameterError("ar_lag", f"must be 0..{MAX_AR_LAG}, got {self.ar_lag!r}.", "give 0-3.")
        for name, chroma in (("ar_luma", False), ("ar_cb", True), ("ar_cr", True)):
            coeffs = tuple(float(c) for c in getattr(self, name))
            object.__setattr__(self, name, coeffs)
            expected = ar_coefficient_count(self.ar_lag, chroma)
            if coeffs and len(coeffs) != expected:
                raise InvalidParameterError(
                    name, f"lag {self.ar_lag} needs {expected} coefficients, got {len(coeffs)}.", "check the model."
                )
        if self.classification not in CLASSES:
            raise InvalidParameterError("classification", f"{self.classification!r} unknown.", f"use {CLASSES}.")
        if self.synthesis not in SYNTHESES:
            raise InvalidParameterError("synthesis", f"{self.synthesis!r} unknown.", f"use {SYNTHESES}.")
        object.__setattr__(self, "spectrum", tuple(float(s) for s in self.spectrum))

    @property
    def has_chroma(self) -> bool:
        """Whether Cb or Cr carry grain."""
        return self.chroma_from_luma or not (self.scaling_cb.is_zero and self.scaling_cr.is_zero)

    def replace(self, **changes: Any) -> GrainModel:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (scaling functions as lists of [intensity, std])."""
        out = asdict(self)
        for name in ("scaling_luma", "scaling_cb", "scaling_cr"):
            out[name] = [list(p) for p in getattr(self, name).points]
        for name in ("ar_luma", "ar_cb", "ar_cr", "spectrum"):
            out[name] = list(out[name])
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GrainModel:
        """The inverse of :meth:`to_dict`; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidParameterError("grain", f"unknown fields {unknown}.", f"known fields: {sorted(known)}.")
        values = dict(data)
        for name in ("scaling_luma", "scaling_cb", "scaling_cr"):
            if name in values:
                values[name] = ScalingFunction(tuple(tuple(p) for p in values[name]))
        return cls(**values)
