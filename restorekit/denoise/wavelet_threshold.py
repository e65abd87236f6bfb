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
import torch

MODES = ("soft", "hard", "garrote")
#: Relative margin, in units of the dtype's epsilon, below which a magnitude counts as equal to the threshold.
TIE_MARGIN = 8


def shrink(d: np.ndarray, threshold: float, mode: str) -> np.ndarray:
    """Apply the shrinkage function ``mode`` (soft / hard / garrote) with ``threshold`` to ``d``.

    Returns a new array of ``d``'s dtype; ``threshold <= 0`` returns an unchanged copy. Hard and
    garrote remove magnitudes up to :data:`TIE_MARGIN` ulps above the threshold too: coefficients
    that are equal in exact arithmetic (mirrored borders, symmetric wavelets) but rounded apart
    then share one fate, whatever transform computed them.
    """
    if threshold <= 0:
        return d.copy()
    t = d.dtype.type(threshold)
    mag = np.abs(d)
    if mode == "soft":
        return np.sign(d) * np.maximum(mag - t, 0)
    cut = t * d.dtype.type(1 + TIE_MARGIN * np.finfo(d.dtype).eps)
    if mode == "hard":
        return np.where(mag > cut, d, 0).astype(d.dtype, copy=False)
    if mode == "garrote":
        keep = mag > cut
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
    mags = np.sort(np.abs(d).ravel())  # sort in the input dtype (faster), sums in float64
    a = mags.astype(np.float64) * (1.0 / float(noise))
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
        # the magnitude itself (not a rescaled copy), so that the coefficient at the threshold is
        # removed in every mode, as the risk assumes, whatever the rounding
        best_risk, best_t = float(risk[best]), float(mags[best])
    else:
        best_risk, best_t = risk_univ, t_univ * float(noise)
    if best_risk >= n:  # keeping every coefficient (threshold 0) is at least as good
        return 0.0
    return best_t


# ---------------------------------------------------------------------------------------------- torch, batched
#
# The functions below work on many subbands at once, each as one row of a ``[R, n]`` tensor (rows:
# image x channel x subband, any device); thresholds are ``[R]`` float64 tensors. They give the
# thresholds of the numpy functions above (same rules, same candidates, same tie-breaking).

#: Bins per histogram round of :func:`sure_thresholds`.
SURE_BINS = 1024
#: :func:`sure_thresholds` sorts the remaining candidates once fewer than this many per row are left.
SURE_SORT_BELOW = 4096
SURE_MAX_ROUNDS = 4
#: Use the deferred picking of :func:`sure_thresholds` (the path of GPUs) on the CPU too (for tests).
_DEFER_PICKING = False


def _column(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``t`` ``[R]`` shaped to broadcast over ``like`` ``[R, ...]``, in ``like``'s dtype."""
    return t.to(dtype=like.dtype).view(-1, *([1] * (like.dim() - 1)))


def shrink_rows_(d: torch.Tensor, threshold: torch.Tensor, mode: str, scratch: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`shrink` in place on every row of ``d`` ``[R, ...]`` with its own threshold ``[R]``.

    ``scratch``: an optional buffer of ``d``'s shape and dtype (saves an allocation). Returns ``d``.
    """
    t = _column(threshold, d)
    buf = torch.empty_like(d) if scratch is None else scratch
    if mode == "soft":
        # d - clamp(d, -t, t) is sign(d) max(|d| - t, 0) with the same rounding
        torch.clamp(d, -t, t, out=buf)
        return d.sub_(buf)
    if mode not in ("hard", "garrote"):
        raise ValueError(f"unknown shrinkage mode {mode!r}")
    torch.abs(d, out=buf)
    kill = buf <= t * (1 + TIE_MARGIN * torch.finfo(d.dtype).eps)
    if mode == "garrote":
        torch.div(t * t, d, out=buf)
        d.sub_(buf)
    return d.masked_fill_(kill, 0.0)


def bayes_thresholds(d: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """:func:`bayes_threshold` of every row of ``d`` ``[R, n]`` with noise ``[R]``: ``[R]`` float64."""
    noise = noise.to(torch.float64)
    n = d.shape[1]
    energy = torch.linalg.vector_norm(d, dim=1, dtype=torch.float64).square_() / max(n, 1)
    signal_var = energy - noise * noise
    lo, hi = torch.aminmax(d, dim=1)
    peak = torch.maximum(lo.abs(), hi.abs()).to(torch.float64)
    t = torch.where(signal_var > 0, noise * noise / signal_var.clamp_min(1e-300).sqrt(), peak)
    return torch.where((noise > 0) & (n > 0), t, torch.zeros_like(t))


def universal_thresholds(noise: torch.Tensor, n: int) -> torch.Tensor:
    """:func:`universal_threshold` for each noise level of ``noise`` ``[R]`` (float64)."""
    return noise.to(torch.float64) * (math.sqrt(2.0 * math.log(n)) if n > 1 else 0.0)


def _risk_gain(t: torch.Tensor, garrote: bool) -> torch.Tensor:
    """The factor of the above-threshold term of the risk: ``t^2`` (soft) or ``t^4 + 2 t^2`` (garrote)."""
    t2 = t * t
    return t2 * (t2 + 2.0) if garrote else t2


def _surviving_bins(
    cnt: torch.Tensor,
    ssum: torch.Tensor,
    wsum: torch.Tensor,
    base: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    lo: torch.Tensor,
    step: torch.Tensor,
    n: torch.Tensor,
    best_known: torch.Tensor,
    garrote: bool,
) -> tuple[torch.Tensor, ...]:
    """One round of the bound-and-prune search of :func:`sure_thresholds` on a per-row histogram.

    ``cnt``, ``ssum``, ``wsum`` ``[R, M + 2]``: per bin the count, sum of a^2 and sum of a^-2 of the
    current candidate set (bin 0: at or below ``lo``, bins 1..M: ``(lo + (i-1) step, lo + i step]``,
    bin M + 1: above). ``base``: (count, sum a^2) of the magnitudes below the set and (garrote) sum
    of a^-2 above it. ``best_known``: the risk of thresholds outside the search (universal, zero).
    A bin survives when the lowest risk any threshold inside it can have is not above the risk of
    the best bin's largest element (an upper bound) or of ``best_known``. Returns ``(has, first,
    last, base', lo', step', left)``: whether anything survives, the 1-based first and last
    surviving bins, the new base, the surviving range split into M new bins, and its size.
    """
    f64 = torch.float64
    device = cnt.device
    m_bins = cnt.shape[1] - 2
    base_k, base_s, base_q = base
    kc = base_k[:, None] + cnt.cumsum(1)  # count <= upper edge of each bin
    sc = base_s[:, None] + ssum.cumsum(1)
    if garrote:
        qa = base_q[:, None] + (wsum.flip(1).cumsum(1).flip(1) - wsum)  # sum of a^-2 above each bin
    else:
        qa = n[:, None] - kc  # soft: the count above each bin
    i = torch.arange(1, m_bins + 1, device=device, dtype=f64)
    edge_lo = lo[:, None] + (i - 1) * step[:, None]
    edge_hi = lo[:, None] + i * step[:, None]
    kb, qb = kc[:, 1:-1], qa[:, 1:-1]
    filled = cnt[:, 1:-1] > 0
    inf = torch.tensor(float("inf"), dtype=f64, device=device)
    # in (lo_i, hi_i]: K <= K(hi_i), S >= S(lo_i), gain >= gain(lo_i), Q >= Q(hi_i)
    lower = torch.where(filled, n[:, None] - 2 * kb + sc[:, :-2] + _risk_gain(edge_lo, garrote) * qb, inf)
    # the bin's largest element v has K = K(hi_i), S = S(hi_i), Q = Q(hi_i) and gain(v) <= gain(hi_i)
    upper = torch.where(filled, n[:, None] - 2 * kb + sc[:, 1:-1] + _risk_gain(edge_hi, garrote) * qb, inf)
    best = torch.minimum(upper.amin(1), best_known)
    qual = lower <= (best + 1e-4 * (n + 1.0))[:, None]  # a margin for rounding; wider is still exact
    has = qual.any(1)
    pos = torch.arange(m_bins, device=device)
    i0 = torch.where(qual, pos, m_bins).amin(1).clamp(0, m_bins - 1)
    i1 = torch.where(qual, pos, -1).amax(1).clamp(0, m_bins - 1)
    new_k = torch.where(has, kc.gather(1, i0[:, None])[:, 0], base_k)
    new_s = torch.where(has, sc.gather(1, i0[:, None])[:, 0], base_s)
    new_q = torch.where(has, qa.gather(1, (i1 + 1)[:, None])[:, 0], base_q)
    left = torch.where(has, kc.gather(1, (i1 + 1)[:, None])[:, 0] - new_k, torch.zeros_like(n))
    lo_next = lo + i0.to(f64) * step
    step_next = (i1 - i0 + 1).to(f64) * step / m_bins
    return has, i0 + 1, i1 + 1, (new_k, new_s, new_q), lo_next, step_next, left


def _histogram(
    local: torch.Tensor, values: torch.Tensor, row_base: torch.Tensor, n_rows: int, width: int, garrote: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-row bin count, sum of a^2 and (garrote) sum of a^-2; ``local`` holds bin numbers, ``row_base`` row * width."""
    idx = (local + row_base).reshape(-1)
    total = n_rows * width
    sq = values * values
    cnt = torch.bincount(idx, minlength=total).to(values.dtype).view(n_rows, width)
    ssum = torch.bincount(idx, weights=sq.reshape(-1), minlength=total).view(n_rows, width)
    if garrote:
        wsum = torch.bincount(idx, weights=sq.reciprocal_().reshape(-1), minlength=total).view(n_rows, width)
        wsum[:, 0] = 0.0  # exact zeros (only ever in bin 0 of the first round) are never above a threshold
    else:
        wsum = ssum  # unused
    return cnt, ssum, wsum


def _pick(item: tuple, sel_buf: torch.Tensor, picked_m: list, picked_r: list, total: int | None) -> None:
    """Append the magnitudes (float64) and row numbers of one subband's surviving bins; ``total``: their
    count when known (no host sync), None to find it."""
    d, flat, table, per_row, start = item
    sel = sel_buf[: flat.numel()]
    torch.index_select(table.view(-1), 0, flat, out=sel)
    rows = torch.arange(start, start + per_row.numel(), device=d.device)
    if total is None:
        picked_m.append(d.reshape(-1)[sel].abs().to(torch.float64))  # (much faster than masked_select on the CPU)
        picked_r.append(torch.repeat_interleave(rows, per_row))
    else:
        where = torch.nonzero_static(sel, size=total)[:, 0]
        picked_m.append(d.reshape(-1)[where].abs().to(torch.float64))
        picked_r.append(torch.repeat_interleave(rows, per_row, output_size=total))


def sure_thresholds(
    bands: list[torch.Tensor], noises: list[torch.Tensor], mode: str = "soft", hybrid: bool = True
) -> list[torch.Tensor]:
    """:func:`sure_threshold` of every row of every ``bands[g]`` ``[R_g, n_g]`` (noise ``noises[g]`` ``[R_g]``).

    Returns one ``[R_g]`` float64 tensor per group: the minimiser of the same risk over the same
    candidates (``{0}``, the magnitudes up to the universal threshold, the universal threshold)
    with the same tie-breaking as the sort-based :func:`sure_threshold`, without sorting whole
    subbands. The risk of any threshold inside a histogram bin is bounded from the bin's count and
    sums; bins that cannot hold the minimum are dropped, the surviving range is histogrammed again
    (on the few magnitudes left), and the last candidates per row are sorted and their risks
    computed exactly. A subband costs one pass of a few elementwise operations and one histogram;
    the later rounds treat all rows at once and cost one host sync each (at most
    ``SURE_MAX_ROUNDS``).
    """
    garrote = mode == "garrote"
    f64 = torch.float64
    device = bands[0].device
    m_bins = SURE_BINS
    width = m_bins + 2
    counts = [int(b.shape[0]) for b in bands]
    n_rows = sum(counts)
    n = torch.cat(
        [torch.full((r,), float(b.shape[1]), dtype=f64, device=device) for r, b in zip(counts, bands, strict=True)]
    )
    noise = torch.cat([v.to(device=device, dtype=f64).reshape(-1) for v in noises])
    valid = (noise > 0) & (n > 1)
    t_univ = torch.sqrt(2.0 * torch.log(n.clamp_min(2.0)))
    inv = torch.where(noise > 0, 1.0 / noise.clamp_min(1e-300), torch.zeros_like(noise))
    lo = torch.zeros_like(n)
    step = t_univ / m_bins
    zero = torch.zeros_like(n)
    base = (zero, zero, zero)
    energy = torch.empty_like(n)
    risk_univ = torch.empty_like(n)
    risk_zero = torch.empty_like(n)
    bounds: list[torch.Tensor] = []
    picked_r, picked_m = [], []

    # first round, one subband group at a time (its rows' statistics are complete after it), in
    # reused buffers: binning in the bands' dtype, bin sums accumulated in float64
    biggest = max(b.numel() for b in bands)
    dtype = bands[0].dtype
    # On the CPU each subband's survivors are picked right after its histogram (a host sync is
    # free there and the bin numbers need no keeping); elsewhere the bin numbers of every subband
    # are kept, and all survivors are picked after one sync for their counts.
    defer = device.type != "cpu" or _DEFER_PICKING
    y_buf = torch.empty(biggest, dtype=dtype, device=device)
    idx_buf = None if defer else torch.empty(biggest, dtype=torch.int32, device=device)
    w_buf = torch.empty(biggest, dtype=f64, device=device)
    sel_buf = torch.empty(biggest, dtype=torch.bool, device=device)
    bins = torch.arange(width, device=device)
    pending: list[tuple] = []
    start = 0
    for d, r in zip(bands, counts, strict=True):
        rows = slice(start, start + r)
        size = d.numel()
        y = y_buf[:size].view(r, -1)
        idx = torch.empty(size, dtype=torch.int32, device=device) if defer else idx_buf[:size]
        idx = idx.view(r, -1)
        w = w_buf[:size].view(r, -1)
        torch.abs(d, out=y)
        y.mul_((inv[rows] / step[rows]).to(dtype)[:, None]).ceil_().clamp_(0, m_bins + 1)  # M + 1: above t_univ
        idx.copy_(y)
        idx.add_(torch.arange(r, device=device, dtype=torch.int32)[:, None] * width)
        flat = idx.view(-1)
        cnt = torch.bincount(flat, minlength=r * width).to(f64).view(r, width)
        torch.mul(d, d, out=w)
        inv2 = (inv[rows] * inv[rows])[:, None]
        ssum = torch.bincount(flat, weights=w.view(-1), minlength=r * width).view(r, width) * inv2
        if garrote:
            wsum = torch.bincount(flat, weights=w.reciprocal_().view(-1), minlength=r * width).view(r, width) / inv2
            wsum[:, 0] = 0.0  # exact zeros: never above a threshold
        else:
            wsum = ssum
        energy[rows] = ssum.sum(1)
        k_u = cnt[:, : m_bins + 1].sum(1)
        s_u = ssum[:, : m_bins + 1].sum(1)
        q_u = wsum[:, m_bins + 1] if garrote else n[rows] - k_u
        risk_univ[rows] = n[rows] - 2 * k_u + s_u + _risk_gain(t_univ[rows], garrote) * q_u
        zeros = cnt[:, 0]
        r0 = n[rows] if garrote else n[rows] - 2 * zeros
        risk_zero[rows] = torch.where(zeros > 0, r0, torch.full_like(r0, float("inf")))
        best_known = torch.minimum(risk_univ[rows], risk_zero[rows])
        out = _surviving_bins(
            cnt, ssum, wsum, tuple(b[rows] for b in base), lo[rows], step[rows], n[rows], best_known, garrote
        )
        has, first, last, new_base, lo_r, step_r, left = out
        has = has & valid[rows]
        left = torch.where(has, left, torch.zeros_like(left))
        bounds.append((has, new_base, lo_r, step_r, left))
        table = (bins >= first[:, None]) & (bins <= last[:, None]) & has[:, None]
        pending.append((d, flat, table, left.long(), start))
        if not defer:
            _pick(pending.pop(), sel_buf, picked_m, picked_r, None)
        start += r
    if pending:
        sizes = torch.stack([p[3].sum() for p in pending]).tolist()  # the one sync of the first round
        for item, total in zip(pending, sizes, strict=True):
            _pick(item, sel_buf, picked_m, picked_r, int(total))
        pending.clear()
    mags, rows_of = torch.cat(picked_m), torch.cat(picked_r)
    values = mags * inv[rows_of]
    has = torch.cat([b[0] for b in bounds])
    base = tuple(torch.cat([b[1][k] for b in bounds]) for k in range(3))
    lo = torch.cat([b[2] for b in bounds])
    step = torch.cat([b[3] for b in bounds])
    left = torch.cat([b[4] for b in bounds])
    best_known = torch.minimum(risk_univ, risk_zero)
    row_base = torch.arange(n_rows, device=device) * width

    # further rounds over the surviving magnitudes of all rows at once
    for _ in range(SURE_MAX_ROUNDS - 1):
        if float(left.max()) <= SURE_SORT_BELOW:
            break
        local = torch.ceil((values - lo[rows_of]) / step[rows_of]).clamp_(0, m_bins + 1).long()
        cnt, ssum, wsum = _histogram(local, values.clone(), row_base[rows_of], n_rows, width, garrote)
        has_r, first, last, new_base, lo_r, step_r, left_r = _surviving_bins(
            cnt, ssum, wsum, base, lo, step, n, best_known, garrote
        )
        has_r = has_r & has
        sel = (local >= first[rows_of]) & (local <= last[rows_of]) & has_r[rows_of]
        values, rows_of, mags = values[sel], rows_of[sel], mags[sel]
        keep = has_r[:, None]
        base = tuple(torch.where(has_r, nb, ob) for nb, ob in zip(new_base, base, strict=True))
        lo = torch.where(has_r, lo_r, lo)
        step = torch.where(has_r, step_r, step)
        left = torch.where(has_r, left_r, torch.zeros_like(left))
        has = has_r
        del keep

    # exact risks of the remaining candidates, sorted per row
    base_k, base_s, base_q = base
    v, order = torch.sort(values)
    r_of, order2 = torch.sort(rows_of[order], stable=True)
    v = v[order2]
    mags = mags[order][order2]
    e = v.shape[0]
    per_row = torch.bincount(r_of, minlength=n_rows)
    starts = per_row.cumsum(0) - per_row
    pos = torch.arange(e, device=device) - starts[r_of]
    sq = v * v
    cs = torch.cat([sq.new_zeros(1), sq.cumsum(0)])  # cs[j] = sum of the first j
    k = base_k[r_of] + (pos + 1).to(f64)
    s = base_s[r_of] + cs[1:] - cs[starts][r_of]
    if garrote:
        w = sq.reciprocal()
        cw = torch.cat([w.new_zeros(1), w.cumsum(0)])
        w_row = cw[starts + per_row] - cw[starts]
        q = base_q[r_of] + w_row[r_of] - (cw[1:] - cw[starts][r_of])  # a^-2 of the larger ones
    else:
        q = n[r_of] - k
    risk = n[r_of] - 2 * k + s + _risk_gain(v, garrote) * q
    rmin = torch.full_like(n, float("inf")).scatter_reduce(0, r_of, risk, "amin")
    first = torch.where(risk == rmin[r_of], pos, e)
    first = torch.full((n_rows,), e, dtype=torch.int64, device=device).scatter_reduce(0, r_of, first, "amin")
    found = first < e
    # the magnitude itself (see sure_threshold), not t * noise
    t_pos = mags[(starts + first).clamp(0, e - 1)] if e else torch.zeros_like(n)
    t_pos = torch.where(found, t_pos, torch.zeros_like(n))
    # candidate order: the zero threshold, the positive candidates (ascending), the universal one
    zero_wins = risk_zero <= rmin
    r_c = torch.where(zero_wins, risk_zero, rmin)
    t_c = torch.where(zero_wins, torch.zeros_like(n), t_pos)
    # the largest magnitude with none above the universal threshold has exactly the universal
    # threshold's risk (nothing is above either); the sort-based rule then keeps the candidate
    k_first = (base_k[r_of] + (pos + 1).to(f64)) if e else k
    top = torch.zeros_like(n).scatter_reduce(0, r_of, torch.where(risk == rmin[r_of], k_first, 0.0), "amax")
    use_c = (r_c <= risk_univ) | (~zero_wins & found & (top >= n))
    r_best = torch.where(use_c, r_c, risk_univ)
    t_best = torch.where(use_c, t_c, t_univ * noise)  # t_c: a magnitude (see sure_threshold) or 0
    t_best = torch.where(r_best >= n, torch.zeros_like(n), t_best)
    if hybrid:
        excess = (energy - n) / n
        t_best = torch.where(excess <= torch.log2(n) ** 1.5 / torch.sqrt(n), t_univ * noise, t_best)
    t_best = torch.where(valid, t_best, torch.zeros_like(n))
    return list(t_best.split(counts))
