"""Transforms used by BM3D: 2-D block transforms, the 1-D Haar transform along a group,
the Kaiser aggregation window, and the noise variance of every 2-D transform coefficient.

Conventions: a 1-D block transform is an ``n x n`` matrix ``T`` whose *rows* are the analysis
functions (``coef = T @ v``); its inverse is ``inv(T)``. The 2-D transform of an ``n x n`` block
``X`` is ``T X T^T``; flattened (row-major) it is the Kronecker product ``kron(T, T)`` acting on
``X.flatten()``. All matrices are built in float64 and cast by the caller.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

# Biorthogonal 1.5 wavelet, 8 points, full (3-level) dyadic decomposition with periodic boundaries:
# the analysis rows of the matrix used in the BM3D literature and the reference package (rows not
# renormalised, which is why the coefficient variances below use the true row norms).
_BIOR15_8 = (
    (0.343550200747110,) * 8,
    (
        -0.225454819240296,
        -0.461645582253923,
        -0.461645582253923,
        -0.225454819240296,
        0.225454819240296,
        0.461645582253923,
        0.461645582253923,
        0.225454819240296,
    ),
    (
        0.569359398342840,
        0.402347308162280,
        -0.402347308162280,
        -0.569359398342840,
        -0.083506045090280,
        0.083506045090280,
        -0.083506045090280,
        0.083506045090280,
    ),
    (
        -0.083506045090280,
        0.083506045090280,
        -0.083506045090280,
        0.083506045090280,
        0.569359398342840,
        0.402347308162280,
        -0.402347308162280,
        -0.569359398342840,
    ),
    (0.707106781186550, -0.707106781186550, 0, 0, 0, 0, 0, 0),
    (0, 0, 0.707106781186550, -0.707106781186550, 0, 0, 0, 0),
    (0, 0, 0, 0, 0.707106781186550, -0.707106781186550, 0, 0),
    (0, 0, 0, 0, 0, 0, 0.707106781186550, -0.707106781186550),
)
_BIOR15_4 = (
    (0.5, 0.5, 0.5, 0.5),
    (0.5, 0.5, -0.5, -0.5),
    (0.70710677, -0.70710677, 0.0, 0.0),
    (0.0, 0.0, 0.70710677, -0.70710677),
)

TRANSFORMS_2D = ("bior1.5", "dct", "dst", "haar")


def dct_matrix(n: int) -> torch.Tensor:
    """Orthonormal DCT-II: row ``k`` is ``c_k cos(pi (2 i + 1) k / (2 n))``."""
    i = torch.arange(n, dtype=torch.float64)
    k = i[:, None]
    t = torch.cos(math.pi * (2 * i[None, :] + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    t[0] /= math.sqrt(2.0)
    return t


def dst_matrix(n: int) -> torch.Tensor:
    """Orthonormal DST-II: row ``k`` is ``c_k sin(pi (2 i + 1) (k + 1) / (2 n))``, last row scaled."""
    i = torch.arange(n, dtype=torch.float64)
    k = i[:, None]
    t = torch.sin(math.pi * (2 * i[None, :] + 1) * (k + 1) / (2 * n)) * math.sqrt(2.0 / n)
    t[-1] /= math.sqrt(2.0)
    return t


def haar_matrix(n: int) -> torch.Tensor:
    """Orthonormal Haar transform of a power-of-two length ``n`` (rows: scaling, then details
    from coarse to fine)."""
    if n < 1 or n & (n - 1):
        raise ValueError(f"Haar length must be a power of two, got {n}")
    h = torch.ones(1, 1, dtype=torch.float64)
    while h.shape[0] < n:
        m = h.shape[0]
        top = torch.kron(h, torch.tensor([[1.0, 1.0]], dtype=torch.float64))
        bottom = torch.kron(torch.eye(m, dtype=torch.float64), torch.tensor([[1.0, -1.0]], dtype=torch.float64))
        h = torch.cat([top, bottom], 0) / math.sqrt(2.0)
    return h


def transform_1d(name: str, n: int) -> torch.Tensor:
    """The ``n x n`` analysis matrix of a named 1-D block transform."""
    if n == 1:
        return torch.ones(1, 1, dtype=torch.float64)
    if name == "bior1.5" and n == 8:
        return torch.tensor(_BIOR15_8, dtype=torch.float64)
    if name == "bior1.5" and n == 4:
        return torch.tensor(_BIOR15_4, dtype=torch.float64)
    if name == "dct" or name == "bior1.5":  # bior1.5 only exists for 4 and 8 points here
        return dct_matrix(n)
    if name == "dst":
        return dst_matrix(n)
    if name == "haar" and not n & (n - 1):
        return haar_matrix(n)
    return dct_matrix(n)


@functools.lru_cache(maxsize=32)
def transform_2d(name: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward and inverse 2-D transform matrices ``[n*n, n*n]`` acting on row-major blocks.

    ``coef = fwd @ block.flatten()`` and ``block.flatten() = inv @ coef``. Cached: callers must not
    modify the returned tensors in place.
    """
    t = transform_1d(name, n)
    fwd = torch.kron(t, t)
    inv = torch.linalg.inv(fwd)
    return fwd, inv


def haar_matrix_in_place(n: int) -> torch.Tensor:
    """The orthonormal Haar transform of :func:`haar_matrix` with its rows in place order: row 0 is
    the scaling function; row ``p > 0`` is the detail (+ on the first half, - on the second) of the
    dyadic interval of length ``2**(t+1)`` that starts at ``p - 2**t``, ``t`` being the number of
    trailing zero bits of ``p``. (The order an in-place lifting implementation leaves the
    coefficients in; the fused GPU kernels compute the group noise variances in it.)"""
    if n < 1 or n & (n - 1):
        raise ValueError(f"Haar length must be a power of two, got {n}")
    h = torch.zeros(n, n, dtype=torch.float64)
    h[0] = 1.0 / math.sqrt(n)
    for p in range(1, n):
        half = p & -p
        start = p - half
        h[p, start : start + half] = 1.0 / math.sqrt(2 * half)
        h[p, start + half : start + 2 * half] = -1.0 / math.sqrt(2 * half)
    return h


def group_haar_table(max_size: int, in_place: bool = False) -> torch.Tensor:
    """``[L, max_size, max_size]`` (L = log2(max_size) + 1): entry ``l`` holds the orthonormal
    Haar matrix of length ``2**l`` (rows coarse to fine, or in place order with ``in_place``, see
    :func:`haar_matrix_in_place`) in its top-left corner and zeros elsewhere, so that one batched
    matrix product transforms groups of different (power-of-two) sizes."""
    levels = int(math.log2(max_size)) + 1
    table = torch.zeros(levels, max_size, max_size, dtype=torch.float64)
    for lvl in range(levels):
        m = 2**lvl
        table[lvl, :m, :m] = haar_matrix_in_place(m) if in_place else haar_matrix(m)
    return table


def kaiser_2d(n: int, beta: float) -> torch.Tensor:
    """Separable ``n x n`` Kaiser window (symmetric, as ``numpy.kaiser``), float64."""
    if beta == 0 or n == 1:
        return torch.ones(n, n, dtype=torch.float64)
    w = torch.kaiser_window(n, periodic=False, beta=float(beta), dtype=torch.float64)
    return w[:, None] * w[None, :]


def coefficient_norms2(fwd: torch.Tensor) -> torch.Tensor:
    """Squared norms of the 2-D analysis functions (rows of ``fwd``): the noise variance of each
    coefficient under white noise of unit variance. ``[n*n]`` float64."""
    return (fwd.double() ** 2).sum(1)


def coefficient_variances_from_psd(psd: torch.Tensor, fwd: torch.Tensor, n: int) -> torch.Tensor:
    """Noise variance of every 2-D transform coefficient under stationary noise of PSD ``psd``.

    ``psd``: ``[..., Hp, Wp]``, convention ``PSD = E|FFT2(noise)|^2 / (Hp*Wp)`` (so white noise of
    std ``s`` has the constant PSD ``s**2``). For an analysis function ``f_k`` (an ``n x n`` block,
    zero-padded to the PSD grid) the coefficient ``<noise, f_k>`` has variance
    ``sum_w PSD(w) |DFT(f_k)(w)|^2 / (Hp*Wp)``, computed in the lag domain (see
    :func:`coefficient_autocov_from_psd`). Returns ``[..., n*n]`` float64.
    """
    centre = (n - 1) * (2 * n - 1) + (n - 1)  # lag (0, 0)
    return coefficient_autocov_from_psd(psd, fwd, n)[..., centre, :]


def _extract_lags(full: torch.Tensor, n: int) -> torch.Tensor:
    """From circular correlations ``[..., Hg, Wg]`` take the lags ``-(n-1)..(n-1)`` of both axes,
    flattened row-major to ``[..., (2n-1)**2]``."""
    hg, wg = full.shape[-2:]
    lags = torch.arange(-(n - 1), n, device=full.device)
    iy, ix = lags % hg, lags % wg
    return full[..., iy, :][..., :, ix].flatten(-2)


def coefficient_autocov_white(fwd: torch.Tensor, n: int) -> torch.Tensor:
    """``[(2n-1)**2, n*n]``: covariance, under unit white noise, of coefficient ``k`` of two blocks
    displaced by a lag ``d`` (``sum_x f_k(x) f_k(x + d)``), for all lags with overlap."""
    basis = fwd.double().reshape(n * n, n, n)
    spec = torch.fft.fft2(basis, s=(2 * n, 2 * n)).abs() ** 2
    full = torch.fft.ifft2(spec).real  # circular autocorrelation, no wrap-around at size 2n
    return _extract_lags(full, n).T.contiguous()


def _grid_psd(psd: torch.Tensor, n: int) -> torch.Tensor:
    """A PSD smaller than a block, resampled onto an ``n x n`` grid (nearest); else ``psd``."""
    hp, wp = psd.shape[-2:]
    if hp < n or wp < n:
        iy = (torch.arange(max(hp, n)) * hp // max(hp, n)).to(psd.device)
        ix = (torch.arange(max(wp, n)) * wp // max(wp, n)).to(psd.device)
        psd = psd[..., iy, :][..., :, ix]
    return psd


def _noise_autocorrelation(psd: torch.Tensor, reach: int) -> torch.Tensor:
    """Circular autocorrelation ``R(d) = IFFT2(PSD)(d)`` of the noise at the lags ``-reach..reach``
    of both axes, ``[..., 2 reach + 1, 2 reach + 1]`` float64 (one FFT of the PSD per image and channel)."""
    hp, wp = psd.shape[-2:]
    full = torch.fft.ifft2(psd.double()).real
    lags = torch.arange(-reach, reach + 1, device=psd.device)
    return full[..., lags % hp, :][..., :, lags % wp]


def coefficient_autocov_from_psd(psd: torch.Tensor, fwd: torch.Tensor, n: int, lags: int | None = None) -> torch.Tensor:
    """``[..., (2m+1)**2, n*n]`` (m = ``lags``, default ``n - 1``): covariance of coefficient ``k`` of two
    blocks displaced by a lag ``d`` (``|dy|, |dx| <= m``, row-major), under stationary noise of PSD
    ``psd`` ``[..., Hp, Wp]`` (our convention, see :func:`coefficient_variances_from_psd`); lag 0
    gives the variances.

    Computed in the lag domain: with ``R`` the noise autocorrelation (the inverse FFT of the PSD,
    periodic on the PSD grid) and ``a_k(e) = sum_x f_k(x) f_k(x + e)`` the autocorrelation of the
    analysis function (``|e| <= n - 1``, symmetric), ``cov_k(d) = sum_e a_k(e) R(d + e)``. This is
    the circular ``IFFT(PSD |DFT f_k|^2)`` at the lags ``d`` exactly (the grid holds ``a_k`` without
    wrap-around when ``Hp, Wp >= 2n - 1``; smaller grids take the spectral form, which is small
    there), but needs only one FFT of the PSD and ``R`` at ``(2(m + n) - 1)**2`` lags: memory and
    work no longer scale with the image size times ``n*n``."""
    m = n - 1 if lags is None else lags
    psd = _grid_psd(psd, n)
    hp, wp = psd.shape[-2:]
    basis = fwd.double().reshape(n * n, n, n).to(psd.device)
    if hp < 2 * n - 1 or wp < 2 * n - 1:  # tiny PSD grid: the spectral form (a_k wraps around)
        spec = torch.fft.fft2(basis, s=(hp, wp)).abs() ** 2  # [K, Hp, Wp]
        full = torch.fft.ifft2(psd.double()[..., None, :, :] * spec).real  # [..., K, Hp, Wp]
        ll = torch.arange(-m, m + 1, device=psd.device)
        return full[..., ll % hp, :][..., :, ll % wp].flatten(-2).transpose(-1, -2).contiguous()
    span = 2 * n - 1
    # a_k at the lags -(n-1)..(n-1): [K, span, span]
    a = torch.fft.ifft2(torch.fft.fft2(basis, s=(2 * n, 2 * n)).abs() ** 2).real
    ii = torch.arange(-(n - 1), n, device=psd.device) % (2 * n)
    a = a[:, ii, :][:, :, ii]
    reach = m + n - 1
    r = _noise_autocorrelation(psd, reach)  # [..., 2 reach + 1, 2 reach + 1]
    lead = r.shape[:-2]
    win = 2 * m + 1
    # windows of R around every output lag: [..., win*win (lags d), span*span (offsets e)]
    patches = r.reshape(-1, 1, 2 * reach + 1, 2 * reach + 1)
    patches = F.unfold(patches, span).transpose(1, 2)  # [L, win*win, span*span]
    out = torch.matmul(patches, a.reshape(n * n, span * span).T)  # [L, win*win, K]
    return out.reshape(*lead, win * win, n * n)


@functools.lru_cache(maxsize=8)
def group_pair_table(max_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The off-diagonal terms of the 3-D noise variances of Haar groups.

    The noise variance of 3-D coefficient ``(l, k)`` of a group is
    ``sum_{i,j} H[l,i] H[l,j] cov_k(p_j - p_i)``: the diagonal ``i = j`` gives ``cov_k(0)`` (the rows
    of H have unit norm) and every pair ``i < j`` counts twice. Returns ``(pi, pj, rows, weights)``:
    the slots of the ``P = max_size (max_size - 1) / 2`` pairs ``i < j``, and for every group size
    ``2**level`` the Haar rows ``l`` whose support holds both slots with ``2 H[l,i] H[l,j]``,
    ``[L, P, R]`` (L = R = log2(max_size) + 1; unused entries have weight 0)."""
    levels = int(math.log2(max_size)) + 1
    pi, pj = torch.triu_indices(max_size, max_size, offset=1)
    npair = pi.numel()
    rows = torch.zeros(levels, npair, levels, dtype=torch.int64)
    wts = torch.zeros(levels, npair, levels, dtype=torch.float64)
    for lvl in range(levels):
        m = 2**lvl
        h = torch.zeros(max_size, max_size, dtype=torch.float64)
        h[:m, :m] = haar_matrix(m)
        prod = 2.0 * h[:, pi] * h[:, pj]  # [l, P]
        prod = prod.T  # [P, l]
        nz = prod.abs() > 1e-12
        order = torch.argsort((~nz).to(torch.int8), dim=-1, stable=True)[..., :levels]
        rows[lvl] = order
        wts[lvl] = torch.gather(prod, -1, order)
    return pi, pj, rows, wts


def row_autocorrelations(t: torch.Tensor) -> torch.Tensor:
    """``[2n-1, n]``: ``rho[d + n - 1, u] = sum_y t[u, y] t[u, y + d]`` for the rows of a 1-D transform.

    For the separable 2-D transform ``kron(t, t)``, coefficient ``k = u * n + v`` of two blocks at lag
    ``(dy, dx)`` has unit-white-noise covariance ``rho[dy, u] * rho[dx, v]``."""
    n = t.shape[0]
    t = t.double()
    out = torch.zeros(2 * n - 1, n, dtype=torch.float64)
    for d in range(-(n - 1), n):
        lo, hi = max(0, -d), min(n, n - d)
        out[d + n - 1] = (t[:, lo:hi] * t[:, lo + d : hi + d]).sum(1)
    return out
