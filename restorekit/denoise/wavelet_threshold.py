"""Threshold rules and shrinkage functions for wavelet denoising.

All functions work on one subband of wavelet detail coefficients (a numpy array of any shape)
whose additive Gaussian noise has standard deviation ``noise`` (same units as the coefficients).
Thresholds are returned in those units too.

Rules (one threshold per subband unless said otherwise):

- BayesShrink (Chang, Yu & Vetterli, 2000): ``T = noise**2 / sigma_x`` with the signal spread
  ``sigma_x = sqrt(max(mean(d**2) - noise**2, 0))``; when the subband holds no signal above the
  noise, every coefficient is removed (``T = max |d|``).
- VisuShrink (Donoho & Johnstone, 1994): the universal threshold ``T = noise * sqrt(2 ln N)``
  with N the number of samples of the image.
- SureShrink (Donoho & Johnstone, 1995): the threshold in ``[0, noise * sqrt(2 ln n)]`` that
  minimises Stein's unbiased risk estimate of the chosen shrinkage function over the ``n``
  coefficients of the subband. The minimum is searched exactly over the candidates
  ``{0} + sorted |d| + the universal threshold`` in O(n log n) (one sort, cumulative sums).
  With ``hybrid=True`` a subband whose energy is too close to pure noise ("sparse" in the
  paper's sense) gets the universal threshold instead, as in the paper's hybrid rule.

Shrinkage functions: soft ``sign(d) max(|d| - T, 0)``, hard ``d [|d| > T]`` and the
non-negative garrote ``d - T**2 / d`` for ``|d| > T`` (0 otherwise).
"""

from __future__ import annotations

import math

import numpy as np

MODES = ("soft", "hard", "garrote")


def shrink(d: np.ndarray, threshold: float, mode: str) -> np.ndarray:
    """Apply the shrinkage function ``mode`` (soft / hard / garrote) with ``threshold`` to ``d``.

    Returns a new array of ``d``'s dtype; ``threshold <= 0`` returns an unchanged copy.
    """
    if threshold <= 0:
        return d.copy()
    t = d.dtype.type(threshold)
    mag = np.abs(d)
    if mode == "soft":
        return np.sign(d) * np.maximum(mag - t, 0)
    if mode == "hard":
        return np.where(mag > t, d, 0).astype(d.dtype, copy=False)
    if mode == "garrote":
        keep = mag > t
        safe = np.where(keep, d, 1)
        return np.where(keep, d - t * t / safe, 0).astype(d.dtype, copy=False)
    raise ValueError(f"unknown shrinkage mode {mode!r}")


def universal_threshold(noise: float, n: int) -> float:
    """VisuShrink's universal threshold ``noise * sqrt(2 ln n)`` (0 when n <= 1)."""
    return float(noise) * math.sqrt(2.0 * math.log(n)) if n > 1 else 0.0


def bayes_threshold(d: np.ndarray, noise: float) -> float:
    """BayesShrink threshold ``noise**2 / sigma_x`` of one subband (see module docstring)."""
    if d.size == 0 or noise <= 0:
        return 0.0
    energy = float(np.mean(np.square(d, dtype=np.float64)))
    signal_var = energy - float(noise) ** 2
    if signal_var <= 0:
        return float(np.max(np.abs(d)))
    return float(noise) ** 2 / math.sqrt(signal_var)


def sure_threshold(d: np.ndarray, noise: float, mode: str = "soft", hybrid: bool = True) -> float:
    """SureShrink threshold of one subband: the minimiser of Stein's unbiased risk estimate.

    The risk is that of soft thresholding for ``mode="soft"`` (and for ``"hard"``, whose risk
    has no unbiased estimate because the function is discontinuous) and that of the
    non-negative garrote for ``mode="garrote"``. With unit-noise coefficients ``a_1 <= ... <= a_n``
    (magnitudes, sorted) and the threshold set to ``a_k``:

    - soft:    ``SURE = n - 2k + sum_{i<=k} a_i^2 + (n - k) a_k^2``
    - garrote: ``SURE = n - 2k + sum_{i<=k} a_i^2 + (a_k^4 + 2 a_k^2) sum_{i>k} a_i^-2``

    and ``SURE(0) = n``. The search is limited to ``[0, sqrt(2 ln n)]``; with ``hybrid`` the
    universal threshold is used when ``(sum a^2 - n) / n <= log2(n)^1.5 / sqrt(n)``.
    """
    n = d.size
    if n == 0 or noise <= 0:
        return 0.0
    a = np.sort(np.abs(d).ravel()).astype(np.float64)  # sort in the input dtype (faster), sums in float64
    a *= 1.0 / float(noise)
    sq = a * a
    t_univ = math.sqrt(2.0 * math.log(n)) if n > 1 else 0.0
    if hybrid and n > 1:
        excess = (float(np.sum(sq)) - n) / n
        if excess <= math.log2(n) ** 1.5 / math.sqrt(n):
            return t_univ * float(noise)
    m = int(np.searchsorted(a, t_univ, side="right"))  # candidates a_1..a_m lie in [0, t_univ]
    c2 = sq[:m]  # squared candidate thresholds
    k = np.arange(1, m + 1, dtype=np.float64)  # coefficients at or below each candidate
    below = np.cumsum(c2)  # sum of their squares
    below_all = float(below[-1]) if m else 0.0
    if mode == "garrote":
        zeros = int(np.searchsorted(a, 0.0, side="right"))
        inv = np.zeros(m)
        inv[zeros:] = 1.0 / c2[zeros:]
        beyond = float(np.sum(1.0 / sq[max(m, zeros) :]))  # sum of 1/a^2 over the coefficients above t_univ
        # tail[k-1] = sum_{i>k} 1/a_i^2
        tail = np.empty(m)
        if m:
            tail[:-1] = np.cumsum(inv[::-1])[::-1][1:] + beyond
            tail[-1] = beyond
        risk = n - 2 * k + below + (c2 * c2 + 2 * c2) * tail
        risk[:zeros] = n  # a zero threshold keeps every coefficient: risk n
        risk_univ = n - 2 * m + below_all + (t_univ**4 + 2 * t_univ**2) * beyond
    else:
        risk = n - 2 * k + below + (n - k) * c2
        risk_univ = n - 2 * m + below_all + (n - m) * t_univ**2
    best = int(np.argmin(risk)) if m else -1
    if m and risk[best] <= risk_univ:
        best_risk, best_t = float(risk[best]), float(a[best])
    else:
        best_risk, best_t = risk_univ, t_univ
    if best_risk >= n:  # keeping every coefficient (threshold 0) is at least as good
        return 0.0
    return best_t * float(noise)
