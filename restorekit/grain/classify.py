"""What kind of grain an image carries, from the measures of :mod:`restorekit.grain.analysis`.

Four classes, told apart by what physically distinguishes them:

* ``film_grain``: the silver/dye clouds of film are correlated in space (grain size of about a pixel or
  more) and across the colour channels, and their visibility peaks in the mid-tones (fewer clouds
  stand out in the shadows and in dense highlights): the std curve bends down at both ends.
* ``sensor_noise``: photon shot noise plus read noise: ``std^2`` grows linearly with the signal
  (a rising curve), white (size near 0) and independent per colour channel.
* ``synthetic_overlay``: a grain texture or noise layer added on top in post: the same std at every
  intensity, usually monochrome (the same in R, G and B).
* ``clean``: no grain measured: luma std under :data:`CLEAN_STD_255` grey levels, or a residual
  whose correlation length is far beyond any grain's (smooth image content, not grain).

Each class gets a score in [0, 1] from soft (logistic) rules on the features; the class is the best
score and its confidence the score's share of the total.
"""

from __future__ import annotations

import math

#: Grain std (luma, 0-255 grey levels) below which an image counts as clean.
CLEAN_STD_255 = 0.8
#: Correlation length (px) beyond which a residual is image content rather than grain.
CONTENT_SIZE = 7.0
CLASS_NAMES = ("film_grain", "sensor_noise", "synthetic_overlay", "clean")


def _sig(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, v))))


def classify_grain(features: dict[str, float]) -> tuple[str, float, dict[str, float]]:
    """``(class, confidence, scores)`` from the analysis features.

    Features used: ``std_255`` (mean luma grain std, grey levels), ``size`` (px), ``channel_correlation``
    (RGB; 1 for gray), ``channels`` (1 or 3), ``flatness`` (relative spread of the std over luma),
    ``trend`` (slope of ``std^2`` vs luma relative to the mean variance), ``midpeak`` (curvature of the std
    vs luma, positive = mid-tone peak), ``span`` (luma range measured). Missing features count as 0.
    """
    f = {k: float(v) for k, v in features.items()}
    std = f.get("std_255", 0.0)
    size = f.get("size", 0.0)
    corr = f.get("channel_correlation", 1.0)
    colour = f.get("channels", 1.0) >= 3
    flat = f.get("flatness", 0.0)
    trend = f.get("trend", 0.0)
    mid = f.get("midpeak", 0.0)
    span = f.get("span", 0.0)

    clean = max(_sig((CLEAN_STD_255 - std) / 0.1), _sig((size - CONTENT_SIZE) / 0.3))
    grain = 1.0 - clean
    # The shape of the curve only says something when a wide enough range of luma was measured.
    shape = _sig((span - 0.2) / 0.05)
    white = _sig((0.7 - size) / 0.15)
    independent = _sig((0.45 - corr) / 0.08) if colour else white
    rising = _sig((trend - 0.4) / 0.15)
    level = _sig((0.6 - abs(trend)) / 0.15) * _sig((0.13 - flat) / 0.03)
    peaked = _sig((mid - 0.9) / 0.3)

    sensor = independent * (0.5 + 0.5 * (shape * rising + (1 - shape)))
    overlay = (1 - independent) * (shape * level * (1 - peaked) + (1 - shape) * 0.3)
    film = (1 - independent) * (shape * peaked + (1 - shape) * 0.3 + 0.25 * (1 - level) * (1 - peaked))
    scores = {
        "film_grain": grain * film,
        "sensor_noise": grain * sensor,
        "synthetic_overlay": grain * overlay,
        "clean": clean,
    }
    best = max(scores, key=scores.__getitem__)
    total = sum(scores.values())
    confidence = scores[best] / total if total > 0 else 0.0
    return best, confidence, scores


__all__ = ["CLASS_NAMES", "CLEAN_STD_255", "CONTENT_SIZE", "classify_grain"]
